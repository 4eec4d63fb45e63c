#!/usr/bin/env node
// Compression ratio and CPU per message of Node's ws (permessage-deflate, the
// library's own PerMessageDeflate with zlib) on the message set from
// deflate-messages.js; the counterpart of ws2api-deflate-bench.
//   node bench/deflate-node.js MESSAGES [ROUNDS]
// One line per mode: shared (no context takeover, as ws2api's shared mode) and
// dedicated (context takeover, window 15, memLevel 8 as ws's defaults).
'use strict';
const fs = require('fs');
const PerMessageDeflate = require('/usr/share/nodejs/ws/lib/permessage-deflate.js'); // Debian's node-ws
const messages = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length).map((l) => Buffer.from(l));
const rounds = Number(process.argv[3] || 5);

function pmd(noTakeover) {
  // Server side, as ws would run it after accepting this offer.
  const p = new PerMessageDeflate({ threshold: 0, serverNoContextTakeover: noTakeover, clientNoContextTakeover: noTakeover,
                                    concurrencyLimit: 1 }, true, 0);
  p.accept([{}]);
  return p;
}
const compress = (p, b) => new Promise((res, rej) => p.compress(b, true, (e, r) => (e ? rej(e) : res(r))));
const decompress = (p, b) => new Promise((res, rej) => p.decompress(b, true, (e, r) => (e ? rej(e) : res(r))));

(async () => {
  for (const [mode, noTakeover] of [['shared', true], ['dedicated', false]]) {
    let plain = 0, wire = 0, n = 0;
    let cpuDeflate = 0, cpuInflate = 0;
    for (let r = 0; r < rounds; ++r) {
      const out = pmd(noTakeover), back = pmd(noTakeover);
      const packed = [];
      let t = process.cpuUsage();
      for (const m of messages) packed.push(await compress(out, m));
      t = process.cpuUsage(t); cpuDeflate += t.user + t.system;
      t = process.cpuUsage();
      for (const b of packed) await decompress(back, b);
      t = process.cpuUsage(t); cpuInflate += t.user + t.system;
      if (r === 0) for (let k = 0; k < messages.length; ++k) { plain += messages[k].length; wire += packed[k].length; }
      n += messages.length;
      out.cleanup(); back.cleanup();
    }
    console.log(`node-ws ${mode}: messages=${messages.length} plain_bytes=${plain} wire_bytes=${wire} ` +
                `ratio=${(wire / plain).toFixed(3)} saved_pct=${(100 - 100 * wire / plain).toFixed(1)} ` +
                `deflate_cpu_us_per_msg=${(cpuDeflate / n).toFixed(2)} inflate_cpu_us_per_msg=${(cpuInflate / n).toFixed(2)}`);
  }
})();
