/**
 * The Kubernetes discovery rows of the settings table (where the API server is, what is watched, which pod label
 * names a pod's deployment), kept apart so `settings.ts` stays one screen per concern. Spread into `SETTINGS`; the
 * order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { optionalText, text } from "./values";

/** The `Config` fields these rows fill. */
export type KubernetesSettingKey = "kubeconfigPath" | "namespace" | "podDeploymentLabel";

/** AIBrix's default deployment label. */
const DEFAULT_POD_DEPLOYMENT_LABEL = "app.kubernetes.io/name";

/** Kubernetes discovery settings (AIBrix's names where AIBrix has them). */
export const KUBERNETES_SETTINGS: { readonly [K in KubernetesSettingKey]: Setting<Config[K]> } = {
  kubeconfigPath: {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    type: optionalText({ hint: "<file>" }),
    description: "Kubeconfig file; in-cluster config when unset.",
  },
  namespace: {
    flag: "namespace",
    aliases: ["pool-namespace"],
    env: "KVROUTE_NAMESPACE",
    type: optionalText({ hint: "<name>" }),
    description:
      "Kubernetes namespace to watch (and the InferencePool's); all namespaces when unset (alias --pool-namespace).",
  },
  podDeploymentLabel: {
    flag: "pod-deployment-label",
    env: "AIBRIX_POD_DEPLOYMENT_LABEL",
    type: text(() => DEFAULT_POD_DEPLOYMENT_LABEL, DEFAULT_POD_DEPLOYMENT_LABEL, { hint: "<label>" }),
    description:
      "Pod label naming a pod's deployment (GPU profile key); without it, the ReplicaSet owner's name minus its hash.",
  },
};
