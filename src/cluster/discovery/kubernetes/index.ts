/**
 * Kubernetes discovery: what the rest of kvroute uses. See `discovery.ts` for behaviour and `pod-mapping.ts` for
 * how a Pod becomes a routing `Pod`.
 *
 * @module
 */
export { loadKubeConfig, startKubernetesDiscovery } from "./discovery";
export type {
  DiscoveryObserver,
  KubernetesDiscovery,
  KubernetesDiscoveryOptions,
  KubernetesDiscoveryStatus,
  ResourceKind,
} from "./discovery";
export type { BackoffOptions } from "./backoff";
export { DEFAULT_BACKOFF } from "./backoff";
