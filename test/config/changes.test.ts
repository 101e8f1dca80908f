import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseConfigText, restartOnlyChanges } from '../../src/config/index.js';
import { yamlKeyName } from '../../src/config/changes.js';
import { rawAuthSchema, rawClusterSchema, rawMqttSchema, rawProtoSchema, rawServerSchema } from '../../src/config/schema.js';

const FILE = '/virtual/etc/psrtd/config.yml';

/** Every key of every section set, so that every loaded key is present. */
const FULL = `server:
  workers: 1
  latency_warn: 1
  data_queue: 1
  max_topic_depth: 1
  max_pub_size: 1
  max_topic_length: 1
  pid_file: /run/p.pid
  bind_stats: 127.0.0.1:1
  license: lic
  data_drain_timeout: 1
  max_connections: 1
  data_queue_bytes: 1
  max_topic_table_bytes: 1
  slow_consumer: drop
  slow_consumer_window: 1
  slow_consumer_max_hold: 1
  max_subscriptions: 1
  max_subscription_bytes: 1
  max_topics_per_subscribe: 1
proto:
  bind: 127.0.0.1:1
  bind_udp: 127.0.0.1:1
  udp_frame_size: 1
  timeout: 1
  tls_pkcs12: p12
  tls_cert: crt
  tls_key: key
  fips: false
  allow_no_tls: true
  udp_replay_window: 1
  unix_socket_mode: "0660"
  unix_socket_owner: psrt
  unix_socket_group: psrt
auth:
  allow_anonymous: true
  password_file: passwd
  mosquitto_passwords: true
  key_file: keys.yml
  acl: acl.yml
cluster:
  config: cluster.yml
mqtt:
  bind: 127.0.0.1:2
  bind_tls: 127.0.0.1:3
  tls_pkcs12: p12
  tls_cert: crt
  tls_key: key
  tls_client_ca: ca
  tls_crl: crl
  require_certificate: true
  use_identity_as_username: true
  max_packet_size: 100
  max_connect_size: 100
  receive_maximum: 1
  max_inflight: 1
  max_queued_messages: 1
  max_queued_bytes: 1
  max_keepalive: 1
  max_session_expiry: 1
  retained_max_count: 1
  retained_max_bytes: 1
  topic_alias_maximum: 1
  ws_bind: 127.0.0.1:4
  wss_bind: 127.0.0.1:5
  ws_path: /mqtt
  ws_origins: x
  ws_deflate: true
  sys_interval: 1
  persistence_file: state
  autosave_interval: 1
`;

const BASE = 'proto:\n  bind: 127.0.0.1:0\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\nserver:\n  data_queue: 1024\n';

describe('restartOnlyChanges', () => {
  it('names every loaded key as config.yml spells it', () => {
    const config = parseConfigText(FULL, FILE);
    const schemas = { server: rawServerSchema, proto: rawProtoSchema, auth: rawAuthSchema, cluster: rawClusterSchema, mqtt: rawMqttSchema };
    for (const section of ['server', 'proto', 'auth', 'cluster', 'mqtt'] as const) {
      const written = Object.keys(schemas[section].shape);
      for (const key of Object.keys(config[section] ?? {})) {
        assert.ok(written.includes(yamlKeyName(key)), `${section}.${key} → ${yamlKeyName(key)} is not a config.yml key`);
      }
    }
  });

  it('reports changed, added and removed keys and sections with their line, and nothing else', () => {
    const running = parseConfigText(`${BASE}mqtt:\n  bind: 127.0.0.1:0\n  sys_interval: 10\n`, FILE);
    // The same values written differently, a new mqtt.sys_interval (reloaded) and a new bridge list change nothing.
    const same = parseConfigText(`# edited\n${BASE.replace('bind: 127.0.0.1:0', 'bind: ["127.0.0.1:0"]')}mqtt:\n  bind: [127.0.0.1:0]\n  sys_interval: 1\nbridges:\n  list: []\n`, FILE);
    assert.deepEqual(restartOnlyChanges(running, same), []);
    const edited = parseConfigText(
      BASE.replace('allow_anonymous: true', 'allow_anonymous: false').replace('data_queue: 1024', 'data_queue: 1024\n  max_connections: 50') +
        'cluster:\n  config: cluster.yml\n',
      FILE,
    );
    assert.deepEqual(restartOnlyChanges(running, edited), [
      { place: `${FILE}:9`, key: 'server.max_connections', values: 'unset → 50' },
      { place: `${FILE}:5`, key: 'auth.allow_anonymous', values: 'true → false' },
      { place: `${FILE}:10`, key: 'cluster', values: 'section added' },
      { place: `${FILE}:1`, key: 'mqtt', values: 'section removed' },
    ]);
  });
});
