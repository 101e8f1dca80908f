export { StatsServer, splitTarget, type StatsBind, type StatsServerOptions } from './server.js';
export { isAuthorized, parseAuthorization, ANONYMOUS_USER, type Credentials, type StatsAuth } from './http-auth.js';
export { statusJson, topicsJson, parseTopicsQuery, hostName, type ClusterNodeCounters, type ClusterNodesProvider, type ClusterStatusProvider, type StatusSources } from './status.js';
export { renderMetrics, Exposition, queueDepthBounds, CLUSTER_STATES, METRICS_CONTENT_TYPE, type MetricsSources, type UdpStatsProvider } from './metrics.js';
export { ProcessMetrics, type ProcessSample } from './process-metrics.js';
export { loadStatsAssets, ASSET_DIRS, type StatsAssets, type StaticFile } from './assets.js';
export { decodeBase64Reference, decodeUtf8Reference } from './reference-decode.js';
