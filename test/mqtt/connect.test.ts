/**
 * CONNECT / CONNACK over raw sockets: every refusal psrtd produces, in 3.1.1 return codes and
 * v5 reason codes, each followed by the server closing the connection; accepted CONNECTs with
 * an assigned client id and a lowered keep alive (v5 Server Keep Alive); MQTT 3.1 (MQIsdp).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { connectPacket, packet, props, publishPacket, rawConnect, rawSession, rawSubscribe, readPacket, str, subscribePacket, u16, url, type RawConnectOptions } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

describe('MQTT CONNECT / CONNACK', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ passwd: makePasswd(), acl: TEST_ACL, auth: { allow_anonymous: false }, mqtt: { max_keepalive: 60 } });
  });
  after(async () => {
    await server.stop();
  });

  /** CONNECT, then the CONNACK (flags, code) and a closed connection. */
  async function refused(o: RawConnectOptions): Promise<{ code: number; body: Buffer }> {
    const { conn, connack } = await rawConnect(server.mqttPort, o);
    try {
      await conn.expectClose(3000);
      return { code: connack.body[1] ?? -1, body: connack.body };
    } finally {
      conn.destroy();
    }
  }

  it('3.1.1: a wrong password gets return code 4, an unknown user too', async () => {
    const r = await refused({ clientId: 'c1', username: 'limited', password: 'wrong' });
    assert.deepEqual(r.body, Buffer.from([0, 4]));
    assert.equal((await refused({ clientId: 'c1', username: 'nobody', password: PASSWORD })).code, 4);
  });

  it('v5: a wrong password gets 0x86 with a reason string', async () => {
    const r = await refused({ version: 5, clientId: 'c1', username: 'limited', password: 'wrong' });
    assert.equal(r.code, 0x86);
    assert.equal(r.body[0], 0, 'session present must be 0 on a refusal');
    assert.ok(r.body.includes(Buffer.from('login failed')), r.body.toString());
  });

  it('anonymous login when not allowed: 3.1.1 code 5, v5 0x87', async () => {
    assert.deepEqual((await refused({ clientId: 'anon' })).body, Buffer.from([0, 5]));
    assert.equal((await refused({ version: 5, clientId: 'anon' })).code, 0x87);
  });

  it('a user with a password but no ACL entry: 3.1.1 code 5, v5 0x87', async () => {
    assert.equal((await refused({ clientId: 'x', username: 'noacl', password: PASSWORD })).code, 5);
    assert.equal((await refused({ version: 5, clientId: 'x', username: 'noacl', password: PASSWORD })).code, 0x87);
  });

  it('3.1.1: an empty client id without clean session gets return code 2', async () => {
    assert.deepEqual((await refused({ clientId: '', clean: false, username: 'limited', password: PASSWORD })).body, Buffer.from([0, 2]));
  });

  it('3.1.1: an empty client id with clean session is accepted', async () => {
    const { conn, connack } = await rawConnect(server.mqttPort, { clientId: '', username: 'limited', password: PASSWORD });
    assert.deepEqual(connack.body, Buffer.from([0, 0]));
    conn.destroy();
  });

  it('v5: an empty client id gets an Assigned Client Identifier (MQTT.js)', async () => {
    const c = mqtt.connect(url(server.mqttPort), { protocolVersion: 5, clientId: '', username: 'limited', password: PASSWORD, reconnectPeriod: 0 });
    try {
      const connack = await new Promise<mqtt.IConnackPacket>((res, rej) => {
        c.once('connect', res);
        c.once('error', rej);
      });
      const assigned = connack.properties?.assignedClientIdentifier;
      assert.ok(typeof assigned === 'string' && assigned.length > 0, `assigned id: ${String(assigned)}`);
    } finally {
      await c.endAsync();
    }
  });

  it('v5: an empty client id: CONNACK carries property 0x12 with the id (raw)', async () => {
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: '', username: 'limited', password: PASSWORD });
    try {
      assert.equal(connack.body[1], 0);
      const at = connack.body.indexOf(0x12, 3);
      assert.ok(at > 0, connack.body.toString('hex'));
      const len = connack.body.readUInt16BE(at + 1);
      const id = connack.body.subarray(at + 3, at + 3 + len).toString();
      assert.match(id, /^\S{8,}$/);
    } finally {
      conn.destroy();
    }
  });

  describe('MQTT 3.1 (MQIsdp, level 3)', () => {
    const v31 = { protocolName: 'MQIsdp', level: 3, username: 'limited', password: PASSWORD } as const;

    it('is accepted: CONNACK 0 with the reserved first byte 0, then the connection works', async () => {
      const { conn, connack } = await rawConnect(server.mqttPort, { ...v31, clientId: 'old' });
      try {
        assert.deepEqual(connack.body, Buffer.from([0, 0]));
        conn.send(Buffer.from([0xc0, 0])); // PINGREQ
        assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]));
      } finally {
        conn.destroy();
      }
    });

    it("'MQIsdp' level 4 (name/level mismatch) is refused with return code 1, then closed", async () => {
      assert.deepEqual((await refused({ ...v31, level: 4, clientId: 'mismatch31' })).body, Buffer.from([0, 1]));
    });

    it('an empty client id gets return code 2, with clean session or without', async () => {
      assert.deepEqual((await refused({ ...v31, clientId: '' })).body, Buffer.from([0, 2]));
      assert.deepEqual((await refused({ ...v31, clientId: '', clean: false })).body, Buffer.from([0, 2]));
    });

    it('a client id past the 23 characters of 3.1 is accepted (as Mosquitto does)', async () => {
      const { conn, connack } = await rawConnect(server.mqttPort, { ...v31, clientId: 'x'.repeat(30) });
      conn.destroy();
      assert.deepEqual(connack.body, Buffer.from([0, 0]));
    });

    it('a refusal is a 3.1.1 return code: a wrong password gets 4', async () => {
      assert.deepEqual((await refused({ ...v31, clientId: 'pw31', password: 'wrong' })).body, Buffer.from([0, 4]));
    });

    it('a persistent session resumes (its messages delivered) but CONNACK has no session-present flag', async () => {
      const first = await rawSession(server.mqttPort, { ...v31, clientId: 'pers31', clean: false });
      await rawSubscribe(first, 'allowed/pers31', 1);
      first.destroy();
      const pub = await rawSession(server.mqttPort, { ...v31, clientId: 'pub31' });
      pub.send(publishPacket('allowed/pers31', 'away', { qos: 1, id: 3 }));
      assert.deepEqual(await pub.read(4), Buffer.from([0x40, 2, 0, 3]));
      pub.destroy();
      const { conn, connack } = await rawConnect(server.mqttPort, { ...v31, clientId: 'pers31', clean: false });
      try {
        assert.deepEqual(connack.body, Buffer.from([0, 0]));
        const msg = await readPacket(conn);
        assert.equal(msg.type, 3);
        assert.ok(msg.body.includes(Buffer.from('away')), msg.body.toString('hex'));
      } finally {
        conn.destroy();
      }
      // The same session over 3.1.1 is told it is present.
      const { conn: c311, connack: ack311 } = await rawConnect(server.mqttPort, { clientId: 'pers31', clean: false, username: 'limited', password: PASSWORD });
      c311.destroy();
      assert.deepEqual(ack311.body, Buffer.from([1, 0]));
    });

    it('a denied filter gets its requested QoS in SUBACK (3.1 has no 0x80, as Mosquitto answers), granted ones theirs', async () => {
      const conn = await rawSession(server.mqttPort, { ...v31, clientId: 'deny31' });
      try {
        conn.send(packet(0x82, u16(5), str('denied/a'), Buffer.from([1]), str('allowed/a'), Buffer.from([2]), str('denied/b'), Buffer.from([0])));
        assert.deepEqual(await readPacket(conn), { type: 9, flags: 0, body: Buffer.from([0, 5, 1, 2, 0]) });
      } finally {
        conn.destroy();
      }
    });

    it('a retried SUBSCRIBE or PUBREL with the DUP flag (3.1 sets it) is accepted; 3.1.1 closes on it', async () => {
      const conn = await rawSession(server.mqttPort, { ...v31, clientId: 'dup31' });
      try {
        conn.send(packet(0x8a, u16(9), str('allowed/dup'), Buffer.from([1])));
        assert.deepEqual(await conn.read(5), Buffer.from([0x90, 3, 0, 9, 1]));
        conn.send(publishPacket('allowed/nodup', 'q2', { qos: 2, id: 4 }));
        assert.deepEqual(await conn.read(4), Buffer.from([0x50, 2, 0, 4]));
        conn.send(packet(0x6a, u16(4)));
        assert.deepEqual(await conn.read(4), Buffer.from([0x70, 2, 0, 4]));
      } finally {
        conn.destroy();
      }
      const c311 = await rawSession(server.mqttPort, { clientId: 'dup311', username: 'limited', password: PASSWORD });
      try {
        c311.send(packet(0x8a, u16(9), str('allowed/dup'), Buffer.from([1])));
        await c311.expectClose(3000);
      } finally {
        c311.destroy();
      }
    });
  });

  it("'MQTT' level 6 is refused with unsupported protocol version, then closed", async () => {
    const r = await refused({ level: 6, clientId: 'future' });
    assert.ok(r.code === 1 || r.code === 0x84, `code ${r.code}`);
  });

  it("'MQTT' level 3 (name/level mismatch) is refused with return code 1", async () => {
    assert.equal((await refused({ level: 3, clientId: 'mismatch' })).code, 1);
  });

  it('v5: CONNECT with an Authentication Method gets 0x8C (Bad authentication method)', async () => {
    const p = props(Buffer.from([0x15]), str('SCRAM-SHA-1'));
    const r = await refused({ version: 5, clientId: 'enh', username: 'limited', password: PASSWORD, props: p });
    assert.equal(r.code, 0x8c);
  });

  it('v5: a wildcard will topic: closed (with at most a CONNACK 0x90)', async () => {
    const conn = await RawConn.open(server.mqttPort);
    try {
      conn.send(connectPacket({ version: 5, clientId: 'w', username: 'limited', password: PASSWORD, will: { topic: 'a/#', payload: 'x' } }));
      await conn.expectClose(3000, 64);
      if (conn.buffered > 0) assert.equal((await conn.read(conn.buffered))[3], 0x90);
    } finally {
      conn.destroy();
    }
  });

  // An empty topic name is a protocol violation (§4.7.3: at least one character), closed as a
  // wildcard will topic is; CONNACK 3 "server unavailable" would send the client into retries.
  for (const version of [4, 5] as const) {
    it(`v${version}: an empty will topic: closed (v5: with at most a CONNACK 0x90), never "server unavailable"`, async () => {
      const conn = await RawConn.open(server.mqttPort);
      try {
        conn.send(connectPacket({ version, clientId: `ew${version}`, username: 'limited', password: PASSWORD, will: { topic: '', payload: 'x' } }));
        await conn.expectClose(3000, version === 5 ? 64 : 0);
        if (conn.buffered > 0) assert.equal((await conn.read(conn.buffered))[3], 0x90);
      } finally {
        conn.destroy();
      }
    });
  }

  it('v5: keep alive above max_keepalive is lowered: Server Keep Alive (0x13) in CONNACK', async () => {
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'ka', keepAlive: 600, username: 'limited', password: PASSWORD });
    try {
      assert.equal(connack.body[1], 0);
      const at = connack.body.indexOf(Buffer.from([0x13, 0, 60]), 3);
      assert.ok(at > 0, `no Server Keep Alive 60 in ${connack.body.toString('hex')}`);
    } finally {
      conn.destroy();
    }
  });

  it('v5: keep alive within max_keepalive: no Server Keep Alive', async () => {
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'ka2', keepAlive: 30, username: 'limited', password: PASSWORD });
    try {
      assert.equal(connack.body[1], 0);
      assert.equal(connack.body.indexOf(Buffer.concat([Buffer.from([0x13]), u16(30)]), 3), -1);
    } finally {
      conn.destroy();
    }
  });

  it('the connection is usable after every refusal: a good login still works', async () => {
    const conn = await RawConn.open(server.mqttPort);
    conn.send(connectPacket({ clientId: 'good', username: 'limited', password: PASSWORD }));
    assert.deepEqual(await conn.read(4), Buffer.from([0x20, 2, 0, 0]));
    conn.send(Buffer.from([0xc0, 0])); // PINGREQ
    assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]));
    conn.destroy();
  });

  it('CONNECT, SUBSCRIBE and PUBLISH in one write: answered in order, by bcrypt and then by the remembered password', async () => {
    // The first login waits for bcrypt; the second is decided within its read (a remembered
    // password). Either way the packets behind CONNECT are handled after it, in order.
    for (const round of [1, 2]) {
      const conn = await RawConn.open(server.mqttPort);
      conn.send(
        Buffer.concat([
          connectPacket({ clientId: `batch-${round}`, username: 'limited', password: PASSWORD }),
          subscribePacket(7, 'allowed/batch', 0),
          publishPacket('allowed/batch', `round ${round}`),
          Buffer.from([0xc0, 0]), // PINGREQ
        ]),
      );
      assert.deepEqual(await conn.read(4), Buffer.from([0x20, 2, 0, 0]), `CONNACK, round ${round}`);
      assert.deepEqual(await conn.read(5), Buffer.from([0x90, 3, 0, 7, 0]), `SUBACK, round ${round}`);
      const pub = await readPacket(conn);
      assert.equal(pub.type, 3);
      assert.deepEqual(pub.body, Buffer.concat([str('allowed/batch'), Buffer.from(`round ${round}`)]));
      assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]), `PINGRESP, round ${round}`);
      conn.destroy();
    }
    // A remembered success is for that password only.
    const r = await refused({ clientId: 'batch-3', username: 'limited', password: `${PASSWORD}x` });
    assert.equal(r.code, 4);
  });
});
