#!/usr/bin/env node
// permessage-deflate with Node's `ws` (perMessageDeflate) against a bridge (CompressionTest).
//
// Usage: node deflate_node.js PORT MODE   (ws: Debian's node-ws, /usr/share/nodejs/ws)
// For every combination of the four RFC 7692 offer parameters it connects as
// /node-<n>, sends JSON text, binary and a fragmented text message with a
// ping between its frames, and checks the echoes. One line per combination:
//   combo <n> answer=<Sec-WebSocket-Extensions> ok      (or ... FAIL <why>)
// then 'done <count>'. Exit status 0 when all were ok.
'use strict';
const WebSocket = require('/usr/share/nodejs/ws'); // Debian's node-ws (installer/install-deps.sh)

const [port, mode] = [Number(process.argv[2]), process.argv[3]];

function message(i, size) {
  let text = JSON.stringify({ type: 'chat', seq: i, room: 'lobby', from: 'user' + i, text: 'hello there' });
  while (text.length < size) text += ' ' + JSON.stringify({ price: 43000 + i, qty: 0.25, side: 'sell' });
  return text.slice(0, size);
}

function one(n, opts) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/node-${n}`, {
      perMessageDeflate: Object.assign({ threshold: 0 }, opts),
      maxPayload: 4 * 1024 * 1024,
      handshakeTimeout: 20000,
    });
    let answer = '';
    const expected = [];
    const fail = (why) => { try { ws.terminate(); } catch (e) { /* closed */ } resolve({ answer, why }); };
    const timer = setTimeout(() => fail('timeout'), 25000);
    ws.on('upgrade', (res) => { answer = res.headers['sec-websocket-extensions'] || ''; });
    ws.on('error', (e) => { clearTimeout(timer); fail(String(e)); });
    ws.on('open', () => {
      if ((answer !== '') !== (mode !== 'off')) { clearTimeout(timer); return fail('extension ' + (answer ? 'unexpected' : 'missing')); }
      for (let i = 0; i < 3; ++i) { const t = message(n * 10 + i, 1500); expected.push(t); ws.send(t); }
      const bin = Buffer.alloc(5000); for (let k = 0; k < bin.length; ++k) bin[k] = (k * 7) % 251;
      expected.push(bin); ws.send(bin);
      const parts = [message(n, 700), message(n + 1, 900), message(n + 2, 300)];
      expected.push(parts.join(''));
      ws.send(parts[0], { fin: false });
      ws.ping('between');
      ws.send(parts[1], { fin: false });
      ws.send(parts[2], { fin: true });
    });
    let pong = false;
    ws.on('pong', () => { pong = true; });
    ws.on('message', (data, isBinary) => {
      const want = expected.shift();
      const ok = Buffer.isBuffer(want) ? isBinary && Buffer.compare(want, data) === 0
                                       : !isBinary && data.toString() === want;
      if (!ok) { clearTimeout(timer); return fail('echo differs'); }
      if (expected.length === 0) {
        clearTimeout(timer);
        if (!pong) return fail('no pong');
        ws.close(1000, 'bye');
        ws.on('close', () => resolve({ answer, why: null }));
      }
    });
  });
}

(async () => {
  const combos = [];
  for (const serverNoContextTakeover of [false, true])
    // undefined, not false: ws with clientNoContextTakeover explicitly false refuses an answer
    // with client_no_context_takeover (which RFC 7692 7.1.1.2 lets a server add, and shared
    // mode always does). The default accepts it, as browsers do.
    for (const clientNoContextTakeover of [undefined, true])
      for (const serverMaxWindowBits of [undefined, 9, 12])
        for (const clientMaxWindowBits of [undefined, true, 10])
          combos.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });
  let failed = 0;
  for (let n = 0; n < combos.length; ++n) {
    const { answer, why } = await one(n, combos[n]);
    if (why) ++failed;
    console.log(`combo ${n} offer=${JSON.stringify(combos[n])} answer=${answer} ${why ? 'FAIL ' + why : 'ok'}`);
  }
  console.log(`done ${combos.length}`);
  process.exit(failed ? 1 : 0);
})();
