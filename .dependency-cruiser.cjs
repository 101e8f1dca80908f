/**
 * Import boundaries: each layer may import only from the layers listed before it.
 *   protocol -> topics -> auth -> broker -> mqtt -> transport -> (config, log, stats, cluster, client, cli, bridges) -> bin
 * `log` is an edge utility usable from broker/transport upwards via an injected interface only.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-only-lower-layers`,
  severity: 'error',
  comment: `src/${name} may import only from: ${allowed.join(', ') || '(nothing in src)'}`,
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    layer('protocol', []),
    layer('topics', ['protocol']),
    layer('auth', ['protocol', 'topics']),
    layer('broker', ['protocol', 'topics', 'auth']),
    layer('mqtt', ['protocol', 'topics', 'auth', 'broker']),
    layer('transport', ['protocol', 'topics', 'auth', 'broker', 'mqtt']),
    layer('log', ['protocol']), // escapeForLog lives in protocol (every layer needs it)
    layer('config', ['protocol', 'topics', 'auth', 'log']),
    layer('client', ['protocol', 'topics']),
    layer('stats', ['protocol', 'topics', 'auth', 'broker', 'mqtt', 'log']),
    layer('cluster', ['protocol', 'topics', 'auth', 'broker', 'client', 'log']),
    layer('cli', ['protocol', 'topics', 'client', 'log']),
    layer('bridges', ['protocol', 'topics', 'auth', 'broker', 'log']),
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'type-only cycles (import type) are erased by tsc and do not count',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'src-not-from-test-or-bench',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
