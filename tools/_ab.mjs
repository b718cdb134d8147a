import * as ort from 'onnxruntime-web';
import fs from 'node:fs';
ort.env.wasm.numThreads = 1;
const paths = process.argv.slice(2);
const sessions = [];
for (const p of paths) sessions.push(await ort.InferenceSession.create(fs.readFileSync(p), {executionProviders:['wasm'], graphOptimizationLevel:'all'}));
const x = new ort.Tensor('float32', new Float32Array(3*224*224).map(()=>Math.random()), [1,3,224,224]);
const times = paths.map(()=>[]);
for (let r=0;r<25;r++) for (let i=0;i<sessions.length;i++) { const t0=performance.now(); await sessions[i].run({input:x}); if (r>=3) times[i].push(performance.now()-t0); }
const med = a => a.sort((p,q)=>p-q)[a.length>>1];
paths.forEach((p,i)=>console.log(p, 'median ms', med(times[i]).toFixed(1)));
