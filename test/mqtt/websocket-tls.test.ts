/** MQTT over secure WebSocket (`mqtt.wss_bind`) and over TLS (`mqtt.bind_tls`) with the identity of `mqtt.tls_*`. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('MQTT over secure WebSocket and TLS', () => {
  let pki: TestPki;
  let server: Psrtd;
  before(async () => {
    pki = makeTestPki();
    server = await startPsrtd({ mqtt: { wss_bind: ['127.0.0.1:0'], bind_tls: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey } });
    assert.ok(server.mqttWssPort > 0 && server.mqttTlsPort > 0, 'wss and TLS ports logged');
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  it('a wss:// client verified against the CA meets an mqtts:// client', async () => {
    const ws = await mqtt.connectAsync(`wss://127.0.0.1:${server.mqttWssPort}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, ca: pki.caPem });
    const tcp = await mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttTlsPort}`, { protocolVersion: 4, reconnectPeriod: 0, ca: pki.caPem });
    try {
      await ws.subscribeAsync('secure/#', { qos: 1 });
      const got = new Promise<string>((resolve) => { ws.once('message', (_t, p) => { resolve(p.toString()); }); });
      await tcp.publishAsync('secure/a', 'over wss', { qos: 1 });
      assert.equal(await got, 'over wss');
    } finally {
      await Promise.all([ws.endAsync(), tcp.endAsync()]);
    }
  });

  it('a client that does not trust the certificate is refused; a plain client on the TLS port is cut', async () => {
    await assert.rejects(
      mqtt.connectAsync(`wss://127.0.0.1:${server.mqttWssPort}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, ca: pki.otherCaPem, connectTimeout: 5000 }),
    );
    await assert.rejects(
      mqtt.connectAsync(`ws://127.0.0.1:${server.mqttWssPort}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 }),
    );
    const ok = await mqtt.connectAsync(`wss://127.0.0.1:${server.mqttWssPort}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, ca: pki.caPem });
    await ok.endAsync();
  });

  it('after the TLS handshake, an upgrade request not complete within proto.timeout is cut (as on ws_bind)', async () => {
    // Slowloris over wss: without this the HTTP server's request timeouts never ran for sockets
    // handed over by the TLS front, and such a connection stayed open for ever.
    const started = Date.now();
    const closedAfter = (first: string | null): Promise<number> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: server.mqttWssPort, servername: 'localhost', ca: pki.caPem }, () => {
          if (first !== null) s.write(first);
        });
        s.on('error', () => { /* cut by the server */ });
        const guard = setTimeout(() => {
          s.destroy();
          reject(new Error(`still open after 8 s (${first ?? 'idle'})`));
        }, 8000);
        s.once('close', () => {
          clearTimeout(guard);
          resolve(Date.now() - started);
        });
      });
    const [idle, partial] = await Promise.all([closedAfter(null), closedAfter('GET /mqtt HTTP/1.1\r\nHost: x\r\n')]);
    // proto.timeout is 2 s in these tests; Node checks the deadline once a second.
    assert.ok(idle >= 1500 && partial >= 1500, `cut too early: ${String(idle)} / ${String(partial)} ms`);
  });

  it('a failed or unfinished TLS handshake is logged with the address, as on the PSRT listener', async () => {
    // An operator whose device cannot connect over mqtts must find why in the log (a plain MQTT
    // client on the TLS port, an old TLS version, a client that stalls).
    let plainPort = 0;
    const plain = connect(server.mqttTlsPort, '127.0.0.1', () => {
      plainPort = plain.localPort ?? 0;
      plain.write(Buffer.from('101000044d5154540402003c0004746573740000', 'hex')); // CONNECT in clear
    });
    plain.on('error', () => { /* the server cuts it */ });
    const failed = await server.waitForLog(/mqtt: client 127\.0\.0\.1:\d+ error: TLS handshake failed: .*(wrong version number|http request|packet length too long)/);
    assert.match(failed, new RegExp(`127\\.0\\.0\\.1:${String(plainPort)}`));
    plain.destroy();
    const silent = connect(server.mqttWssPort, '127.0.0.1');
    silent.on('error', () => { /* cut after proto.timeout */ });
    await new Promise((resolve) => silent.once('connect', resolve));
    const silentPort = silent.localPort ?? 0;
    const timedOut = await server.waitForLog(/mqtt: WebSocket client 127\.0\.0\.1:\d+ error: TLS handshake timed out/, 5000);
    assert.match(timedOut, new RegExp(`127\\.0\\.0\\.1:${String(silentPort)}`));
    silent.destroy();
  });
});
