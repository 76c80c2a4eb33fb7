{{/* Names and labels. */}}
{{- define "kvroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kvroute.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kvroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kvroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kvroute.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kvroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: router
{{- end }}

{{/* The fewest and the most replicas: the HPA's bounds when autoscaling, else replicaCount for both. */}}
{{- define "kvroute.minReplicas" -}}
{{- ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int }}
{{- end }}
{{- define "kvroute.maxReplicas" -}}
{{- ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled | int }}
{{- end }}

{{- define "kvroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kvroute.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The InferencePool kvroute reads its pods from, or "" (not in standalone mode). */}}
{{- define "kvroute.poolName" -}}
{{- if not .Values.standalone.enabled }}
{{- if .Values.inferencePool.name }}{{ .Values.inferencePool.name }}
{{- else if .Values.inferencePool.create }}{{ include "kvroute.fullname" . }}
{{- end }}
{{- end }}
{{- end }}

{{/* The namespace kvroute watches ("" = all): the release namespace for a pool the chart makes, else watchNamespace, else
   the release namespace for an existing pool. */}}
{{- define "kvroute.watchNamespace" -}}
{{- if and .Values.inferencePool.create (not .Values.standalone.enabled) }}
{{- if and .Values.watchNamespace (ne .Values.watchNamespace .Release.Namespace) }}
{{- fail "inferencePool.create makes the pool in the release namespace: leave watchNamespace empty or set it to that namespace" }}
{{- end }}
{{- .Release.Namespace }}
{{- else if .Values.watchNamespace }}{{ .Values.watchNamespace }}
{{- else if include "kvroute.poolName" . }}{{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Whether the chart makes a Secret (inline Redis password/URL or bearer token). */}}
{{- define "kvroute.makeSecret" -}}
{{- if or (and (not .Values.redis.existingSecret) (or .Values.redis.password .Values.redis.url)) (and (not .Values.auth.existingSecret) .Values.auth.bearerToken) }}true{{ end }}
{{- end }}

{{/* Whether the chart makes the ConfigMap (endpoints file and/or tokenizers file). */}}
{{- define "kvroute.makeConfigMap" -}}
{{- if or (and .Values.standalone.enabled (not .Values.standalone.existingConfigMap)) .Values.tokenizers }}true{{ end }}
{{- end }}

{{/* A value as an env string: whole numbers without an exponent (YAML numbers arrive as float64). */}}
{{- define "kvroute.envString" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}{{ . }}
{{- end }}
{{- end }}

{{/* Env vars that typed values own; neither `config:` nor `extraEnv` may set them. */}}
{{- define "kvroute.managedEnv" -}}
KVROUTE_GRPC_BIND_ADDRESS: ports.grpc
KVROUTE_HTTP_BIND_ADDRESS: ports.http
KVROUTE_GRPC_HEALTH_PORT: grpcHealthPort
KVROUTE_GRPC_TLS_CERT: grpcTls.existingSecret
KVROUTE_GRPC_TLS_KEY: grpcTls.existingSecret
KVROUTE_GRPC_TLS_SELF_SIGNED: grpcTls.selfSigned
KVROUTE_STANDALONE: standalone.enabled
KVROUTE_ENDPOINTS_CONFIG: standalone.endpoints
KVROUTE_NAMESPACE: watchNamespace
KVROUTE_INFERENCE_POOL: inferencePool.name
KVROUTE_TOKENIZERS_CONFIG: tokenizers
ROUTING_ALGORITHM: routingAlgorithm
LOG_LEVEL: logLevel
AIBRIX_AUTH_BEARER_TOKEN: auth.bearerToken or auth.existingSecret
KVROUTE_STATUS_PAGE_TOKEN: statusPage.existingSecret
POD_NAME: the downward API (always set)
REDIS_HOST: redis.host
REDIS_PORT: redis.port
REDIS_PASSWORD: redis.password or redis.existingSecret
REDIS_URL: redis.url or redis.existingSecret
{{- end }}

{{/* Settings the chart reads from `config:` to size other objects; given in `extraEnv` instead, kvroute would run
   with them while those objects were sized from the defaults. */}}
{{- define "kvroute.chartReadEnv" -}}
KVROUTE_DRAIN_DELAY_MS: terminationGracePeriodSeconds
KVROUTE_DRAIN_TIMEOUT_MS: terminationGracePeriodSeconds
KVROUTE_FLOW_CONTROL: the envoyGateway.extProc.messageTimeout check
KVROUTE_FLOW_TTL_MS: the envoyGateway.extProc.messageTimeout check
KVROUTE_SLO_QUEUE_MAX_WAIT_MS: the envoyGateway.extProc.messageTimeout check
{{- end }}

{{/* A `config:` value the chart renders into the env (not ~, not ""). */}}
{{- define "kvroute.configRendered" -}}
{{- if not (or (kindIs "invalid" .) (and (kindIs "string" .) (eq . ""))) }}true{{ end }}
{{- end }}

{{/* Fails on `config:` or `extraEnv` entries naming an env var the chart sets itself (the pod would get two entries
   for one name, and which one wins is not what the values say), and on `extraEnv` entries for a setting the chart
   reads from `config:`. */}}
{{- define "kvroute.checkEnvOverlap" -}}
{{- $managed := include "kvroute.managedEnv" . | fromYaml }}
{{- range $k, $v := .Values.config }}
{{- if and (hasKey $managed $k) (not (kindIs "invalid" $v)) }}
{{- fail (printf "config.%s: set it with %s, not in config" $k (get $managed $k)) }}
{{- end }}
{{- end }}
{{- $chartRead := include "kvroute.chartReadEnv" . | fromYaml }}
{{- range $i, $e := .Values.extraEnv }}
{{- if not (and (kindIs "map" $e) (kindIs "string" $e.name)) }}
{{- fail (printf "extraEnv[%d]: want an env entry ({name, value} or {name, valueFrom}), got %v" $i $e) }}
{{- end }}
{{- $n := $e.name }}
{{- if hasKey $managed $n }}
{{- fail (printf "extraEnv[%d] %s: set it with %s, not in extraEnv" $i $n (get $managed $n)) }}
{{- else if include "kvroute.configRendered" (get $.Values.config $n) }}
{{- fail (printf "extraEnv[%d] %s: already set by config.%s; set it in one place" $i $n $n) }}
{{- else if hasKey $chartRead $n }}
{{- fail (printf "extraEnv[%d] %s: set it with config.%s, not in extraEnv (the chart reads it for %s)" $i $n $n (get $chartRead $n)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The container's env list. */}}
{{- define "kvroute.env" -}}
{{- include "kvroute.checkEnvOverlap" . }}
{{- $secret := include "kvroute.fullname" . -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: KVROUTE_GRPC_BIND_ADDRESS
  value: {{ printf ":%d" (int .Values.ports.grpc) | quote }}
- name: KVROUTE_HTTP_BIND_ADDRESS
  value: {{ printf ":%d" (int .Values.ports.http) | quote }}
{{- with .Values.grpcHealthPort }}
- name: KVROUTE_GRPC_HEALTH_PORT
  value: {{ include "kvroute.envString" . | quote }}
{{- end }}
{{- if .Values.grpcTls.existingSecret }}
- name: KVROUTE_GRPC_TLS_CERT
  value: /etc/kvroute/grpc-tls/tls.crt
- name: KVROUTE_GRPC_TLS_KEY
  value: /etc/kvroute/grpc-tls/tls.key
{{- else if .Values.grpcTls.selfSigned }}
- name: KVROUTE_GRPC_TLS_SELF_SIGNED
  value: "true"
{{- end }}
- name: ROUTING_ALGORITHM
  value: {{ .Values.routingAlgorithm | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.standalone.enabled }}
- name: KVROUTE_STANDALONE
  value: "true"
- name: KVROUTE_ENDPOINTS_CONFIG
  value: /etc/kvroute/endpoints/endpoints.yaml
{{- end }}
{{- with include "kvroute.watchNamespace" . }}
{{- if not $.Values.standalone.enabled }}
- name: KVROUTE_NAMESPACE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with include "kvroute.poolName" . }}
- name: KVROUTE_INFERENCE_POOL
  value: {{ . | quote }}
{{- end }}
{{- if .Values.tokenizers }}
- name: KVROUTE_TOKENIZERS_CONFIG
  value: /etc/kvroute/config/tokenizers.yaml
{{- end }}
{{- with .Values.redis }}
{{- if .host }}
- name: REDIS_HOST
  value: {{ .host | quote }}
- name: REDIS_PORT
  value: {{ include "kvroute.envString" .port | quote }}
{{- end }}
{{- if and .existingSecret .existingSecretPasswordKey }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .existingSecret | quote }}, key: {{ .existingSecretPasswordKey | quote }} }
{{- else if and (not .existingSecret) .password }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ $secret | quote }}, key: redis-password }
{{- end }}
{{- if and .existingSecret .existingSecretUrlKey }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: { name: {{ .existingSecret | quote }}, key: {{ .existingSecretUrlKey | quote }} }
{{- else if and (not .existingSecret) .url }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: { name: {{ $secret | quote }}, key: redis-url }
{{- end }}
{{- end }}
{{- if .Values.auth.existingSecret }}
- name: AIBRIX_AUTH_BEARER_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ .Values.auth.existingSecret | quote }}, key: {{ .Values.auth.existingSecretKey | quote }} }
{{- else if .Values.auth.bearerToken }}
- name: AIBRIX_AUTH_BEARER_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ $secret | quote }}, key: auth-bearer-token }
{{- end }}
{{- with .Values.statusPage.existingSecret }}
- name: KVROUTE_STATUS_PAGE_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: {{ $.Values.statusPage.existingSecretKey | quote }} }
{{- end }}
{{- range $k, $v := .Values.config }}
{{- if include "kvroute.configRendered" $v }}
- name: {{ $k }}
  value: {{ include "kvroute.envString" $v | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: kvroute's drain (drain delay + drain timeout, rounded up to seconds) plus
   drainMarginSeconds, or the value given, which may not be shorter than the drain: the kubelet would SIGKILL kvroute
   mid-drain and cut the streams it was letting finish. */}}
{{- define "kvroute.terminationGracePeriodSeconds" -}}
{{- $delayMs := 5000 }}
{{- if not (kindIs "invalid" .Values.config.KVROUTE_DRAIN_DELAY_MS) }}{{ $delayMs = int64 .Values.config.KVROUTE_DRAIN_DELAY_MS }}{{ end }}
{{- $timeoutMs := 30000 }}
{{- if not (kindIs "invalid" .Values.config.KVROUTE_DRAIN_TIMEOUT_MS) }}{{ $timeoutMs = int64 .Values.config.KVROUTE_DRAIN_TIMEOUT_MS }}{{ end }}
{{- $drainSeconds := div (add $delayMs $timeoutMs 999) 1000 }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drainSeconds (int64 .Values.drainMarginSeconds) }}
{{- else if lt (int64 .Values.terminationGracePeriodSeconds) (int64 $drainSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) is shorter than kvroute's drain, %d s (config.KVROUTE_DRAIN_DELAY_MS + config.KVROUTE_DRAIN_TIMEOUT_MS): leave it unset or raise it" .Values.terminationGracePeriodSeconds $drainSeconds) }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The port the gRPC probes use; TLS on ports.grpc needs the plaintext health port (kubelet cannot probe TLS). */}}
{{- define "kvroute.probePort" -}}
{{- if and .Values.grpcTls.existingSecret .Values.grpcTls.selfSigned }}
{{- fail "grpcTls: set existingSecret or selfSigned, not both" }}
{{- end }}
{{- if and (or .Values.grpcTls.existingSecret .Values.grpcTls.selfSigned) (not .Values.grpcHealthPort) }}
{{- fail "grpcTls needs grpcHealthPort (e.g. 9003): kubelet's gRPC probes speak plaintext only" }}
{{- end }}
{{- .Values.grpcHealthPort | default .Values.ports.grpc }}
{{- end }}
