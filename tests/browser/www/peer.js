// One SIP user in one page: a sip.js UserAgent that the driver (driver.mjs) commands through window.peer.* and
// that reports what happens through window.wazoEmit (exposed by the driver before this script runs).
// Everything here must run in the Debian Chromium without a bundler: sip.js is loaded as ES modules.
import { Inviter, Messager, Registerer, RegistererState, SessionState, UserAgent, Web } from 'sip.js';

const now = () => performance.timeOrigin + performance.now(); // epoch ms: comparable with the C++ clock
const emit = (event, data = {}) => {
  window.wazoEmit({ event, t: now(), ...data }).catch(() => {});
};

let ua = null;
let registerer = null;
let nextCall = 0;
let autoAnswer = true;
let answerVideo = null; // null: answer with video when the offer has video
const calls = new Map(); // call id -> { session, dir, pc, audio: AudioProbe | null }
const inviteSentAt = new Map(); // Call-ID -> epoch ms the first INVITE went on the wire
let audioContext = null;

const directions = (sdp) => (sdp?.match(/a=(sendrecv|sendonly|recvonly|inactive)/g) || []).map((d) => d.slice(2));
const ufrags = (sdp) => (sdp?.match(/a=ice-ufrag:\S+/g) || []).map((u) => u.slice(12));

// The level of the remote audio, as a listener would hear it: an AnalyserNode on the remote track, sampled
// every 20 ms; stats() reports the loudest sample of the last window and its dominant frequency.
class AudioProbe {
  constructor(stream) {
    audioContext ??= new AudioContext();
    audioContext.resume().catch(() => {});
    this.source = audioContext.createMediaStreamSource(stream);
    this.analyser = audioContext.createAnalyser();
    this.analyser.fftSize = 2048;
    this.source.connect(this.analyser);
    this.time = new Float32Array(this.analyser.fftSize);
    this.freq = new Float32Array(this.analyser.frequencyBinCount);
    this.samples = [];
    this.timer = setInterval(() => this.sample(), 20);
  }
  sample() {
    this.analyser.getFloatTimeDomainData(this.time);
    let sum = 0;
    for (const v of this.time) sum += v * v;
    const rms = Math.sqrt(sum / this.time.length);
    this.analyser.getFloatFrequencyData(this.freq);
    let best = 0;
    for (let i = 1; i < this.freq.length; i++) if (this.freq[i] > this.freq[best]) best = i;
    const hz = (best * audioContext.sampleRate) / this.analyser.fftSize;
    const t = now();
    this.samples.push({ t, rms, hz });
    while (this.samples.length && this.samples[0].t < t - 5000) this.samples.shift();
  }
  level(windowMs) {
    const from = now() - windowMs;
    const xs = this.samples.filter((s) => s.t >= from);
    if (!xs.length) return { rms_max: 0, rms_mean: 0, peak_hz: 0, samples: 0 };
    const loudest = xs.reduce((a, b) => (b.rms > a.rms ? b : a));
    const mean = xs.reduce((a, b) => a + b.rms, 0) / xs.length;
    return { rms_max: loudest.rms, rms_mean: mean, peak_hz: Math.round(loudest.hz), samples: xs.length };
  }
  close() {
    clearInterval(this.timer);
    this.source.disconnect();
  }
}

function watchPeerConnection(id, pc) {
  const call = calls.get(id);
  if (!call || call.pc === pc) return;
  call.pc = pc;
  pc.addEventListener('connectionstatechange', () => emit('pc_state', { call: id, state: pc.connectionState }));
  pc.addEventListener('iceconnectionstatechange', () => emit('ice_state', { call: id, state: pc.iceConnectionState }));
  pc.addEventListener('track', (ev) => {
    const stream = ev.streams[0] || new MediaStream([ev.track]);
    // Chromium only feeds a remote WebRTC track to WebAudio when a media element plays it too.
    const el = document.createElement(ev.track.kind === 'video' ? 'video' : 'audio');
    el.autoplay = true;
    el.muted = true;
    el.playsInline = true;
    el.srcObject = stream;
    document.body.appendChild(el);
    if (ev.track.kind === 'audio' && !call.audio) call.audio = new AudioProbe(new MediaStream([ev.track]));
    emit('track', { call: id, kind: ev.track.kind });
  });
}

function sessionDescriptionHandlerFactory() {
  const base = Web.defaultSessionDescriptionHandlerFactory();
  return (session, options) => {
    const sdh = base(session, options);
    watchPeerConnection(session.wazoCall, sdh.peerConnection);
    return sdh;
  };
}

function track(session, dir) {
  const id = ++nextCall;
  session.wazoCall = id;
  calls.set(id, { session, dir, pc: null, audio: null });
  session.stateChange.addListener((state) => {
    if (state === SessionState.Established) emit('established', { call: id, dir });
    if (state === SessionState.Terminated) {
      calls.get(id)?.audio?.close();
      emit('terminated', { call: id, dir });
    }
  });
  session.delegate = {
    onInfo: (info) => {
      emit('info', { call: id, content_type: info.request.getHeader('content-type') || '', body: info.request.body || '' });
      info.accept();
    },
    onMessage: (message) => {
      emit('message', { call: id, from: message.request.from.uri.toString(), body: message.request.body || '' });
      message.accept();
    },
    onInvite: (request) => emit('reinvite', { call: id, directions: directions(request.body), ufrags: ufrags(request.body) }),
    onRefer: (referral) => {
      const target = referral.referTo.uri.toString();
      emit('refer', { call: id, target });
      referral.accept().then(() => {
        const inviter = referral.makeInviter({
          sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
        });
        const nid = track(inviter, 'out');
        emit('call_created', { call: nid, target, reason: 'refer' });
        inviter.invite().catch((e) => emit('error', { call: nid, what: 'referred INVITE', message: String(e) }));
      });
    },
  };
  return id;
}

function session(id) {
  const call = calls.get(id);
  if (!call) throw new Error(`no call ${id}`);
  return call.session;
}

// Resolves on a final 2xx, rejects with the status otherwise.
function requestDelegate(what, resolve, reject) {
  return {
    onAccept: () => resolve(),
    onReject: (r) => reject(new Error(`${what} rejected: ${r.message.statusCode} ${r.message.reasonPhrase}`)),
  };
}

function onInvite(invitation) {
  const id = track(invitation, 'in');
  const body = invitation.request.body || '';
  const video = /^m=video [1-9]/m.test(body);
  emit('invite', { call: id, from: invitation.request.from.uri.toString(), video, directions: directions(body) });
  invitation.progress().catch(() => {});
  if (autoAnswer) answer(id, answerVideo === null ? video : answerVideo);
}

function answer(id, video) {
  const s = session(id);
  return s
    .accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: !!video } } })
    .catch((e) => {
      emit('error', { call: id, what: 'accept', message: String(e) });
      throw e;
    });
}

async function stats(id, windowMs = 1000) {
  const call = calls.get(id);
  const pc = call?.pc;
  if (!pc) throw new Error(`call ${id} has no peer connection`);
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((r) => byId.set(r.id, r));
  const out = { audio: { in: null, out: null }, video: { in: null, out: null }, pair: null, dtls: null };
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && out[r.kind]) {
      out[r.kind].in = {
        bytes: r.bytesReceived ?? 0,
        packets: r.packetsReceived ?? 0,
        packets_lost: r.packetsLost ?? 0,
        codec: byId.get(r.codecId)?.mimeType ?? '',
        ...(r.kind === 'audio'
          ? { audio_level: r.audioLevel ?? 0, total_audio_energy: r.totalAudioEnergy ?? 0, samples: r.totalSamplesReceived ?? 0 }
          : { frames_decoded: r.framesDecoded ?? 0, width: r.frameWidth ?? 0, height: r.frameHeight ?? 0 }),
      };
    }
    if (r.type === 'outbound-rtp' && out[r.kind]) {
      out[r.kind].out = {
        bytes: r.bytesSent ?? 0,
        packets: r.packetsSent ?? 0,
        ...(r.kind === 'video' ? { frames_encoded: r.framesEncoded ?? 0 } : {}),
      };
    }
    if (r.type === 'transport') {
      out.dtls = r.dtlsState ?? null;
      const pair = byId.get(r.selectedCandidatePairId);
      if (pair) {
        const l = byId.get(pair.localCandidateId);
        const rc = byId.get(pair.remoteCandidateId);
        out.pair = {
          local: l?.candidateType ?? '',
          remote: rc?.candidateType ?? '',
          local_address: `${l?.address}:${l?.port}`,
          remote_address: `${rc?.address}:${rc?.port}`,
          protocol: l?.protocol ?? '',
          rtt: pair.currentRoundTripTime ?? null,
        };
      }
    }
  });
  const zero = { bytes: 0, packets: 0 };
  for (const k of ['audio', 'video']) {
    out[k].in ??= { ...zero };
    out[k].out ??= { ...zero };
  }
  out.level = call.audio ? call.audio.level(windowMs) : { rms_max: 0, rms_mean: 0, peak_hz: 0, samples: 0 };
  return out;
}

window.peer = {
  async start(o) {
    autoAnswer = o.autoAnswer ?? true;
    ua = new UserAgent({
      uri: UserAgent.makeURI(`sip:${o.user}@${o.domain}`),
      displayName: o.displayName || o.user,
      authorizationUsername: o.authUser || o.user,
      authorizationPassword: o.password,
      transportOptions: { server: o.ws, connectionTimeout: 5 },
      logLevel: o.logLevel || 'warn',
      noAnswerTimeout: 60,
      sessionDescriptionHandlerFactory: sessionDescriptionHandlerFactory(),
      sessionDescriptionHandlerFactoryOptions: {
        // sip.js sends full (non-trickle) SDP once gathering ends or this timeout passes; TURN allocation is slower.
        iceGatheringTimeout: o.iceGatheringTimeout ?? (o.iceTransportPolicy === 'relay' ? 2000 : 500),
        peerConnectionConfiguration: {
          iceServers: o.iceServers || [],
          iceTransportPolicy: o.iceTransportPolicy || 'all',
        },
      },
      delegate: {
        onInvite,
        onMessage: (m) => {
          emit('message', {
            from: m.request.from.uri.toString(),
            body: m.request.body || '',
            content_type: m.request.getHeader('content-type') || '',
          });
          m.accept();
        },
        onDisconnect: (e) => emit('disconnected', { message: String(e || '') }),
      },
    });
    const transport = ua.transport;
    const send = transport.send.bind(transport);
    transport.send = (m) => {
      if (m.startsWith('INVITE ')) {
        const callId = (m.match(/^(?:Call-ID|i):\s*(.+?)\s*$/im) || [])[1];
        if (callId && !inviteSentAt.has(callId)) inviteSentAt.set(callId, now());
      }
      return send(m);
    };
    await ua.start();
    registerer = new Registerer(ua, { expires: 600 });
    registerer.stateChange.addListener((state) => {
      if (state === RegistererState.Registered) emit('registered', { user: o.user });
      if (state === RegistererState.Unregistered) emit('unregistered', { user: o.user });
    });
    return { user: o.user };
  },
  register() {
    return new Promise((resolve, reject) => {
      registerer.register({ requestDelegate: requestDelegate('REGISTER', resolve, reject) }).catch(reject);
    });
  },
  unregister() {
    return new Promise((resolve, reject) => {
      registerer.unregister({ requestDelegate: requestDelegate('un-REGISTER', resolve, reject) }).catch(reject);
    });
  },
  setAutoAnswer({ enabled, video = null }) {
    autoAnswer = !!enabled;
    answerVideo = video;
    return {};
  },
  async call({ target, video = false }) {
    const inviter = new Inviter(ua, UserAgent.makeURI(target), {
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: !!video } },
    });
    const id = track(inviter, 'out');
    const t0 = now();
    await inviter.invite({
      requestDelegate: {
        onProgress: (r) => emit('progress', { call: id, status: r.message.statusCode }),
        onReject: (r) => emit('rejected', { call: id, status: r.message.statusCode, reason: r.message.reasonPhrase }),
      },
    });
    return { call: id, started_at: t0, invite_sent_at: inviteSentAt.get(inviter.request.callId) ?? now() };
  },
  async answer({ call, video = null }) {
    const body = session(call).request.body || '';
    await answer(call, video === null ? /^m=video [1-9]/m.test(body) : video);
    return {};
  },
  async reject({ call, status = 486 }) {
    await session(call).reject({ statusCode: status });
    return {};
  },
  async hangup({ call }) {
    const s = session(call);
    if (s.state === SessionState.Established) await s.bye();
    else if (s instanceof Inviter) await s.cancel();
    else if (s.state !== SessionState.Terminated) await s.reject();
    return {};
  },
  // A re-INVITE with the hold flag, as SimpleUser does: sip.js marks the offer sendonly and disables its tracks.
  async hold({ call, hold = true }) {
    const s = session(call);
    s.sessionDescriptionHandlerOptionsReInvite = { ...(s.sessionDescriptionHandlerOptionsReInvite || {}), hold };
    const t0 = now();
    await new Promise((resolve, reject) => {
      s.invite({ requestDelegate: requestDelegate('re-INVITE', resolve, reject) }).catch(reject);
    });
    const pc = calls.get(call).pc;
    return { ms: now() - t0, local: directions(pc.localDescription?.sdp), remote: directions(pc.remoteDescription?.sdp) };
  },
  // A re-INVITE whose offer restarts ICE (new ufrag and pwd, candidates gathered again), as the Wazo JS SDK's
  // reinvite(session, …, iceRestart) does. Returns the ufrags before and after, both sides.
  async iceRestart({ call }) {
    const s = session(call);
    const pc = calls.get(call).pc;
    const before = { local: ufrags(pc.localDescription?.sdp), remote: ufrags(pc.remoteDescription?.sdp) };
    const saved = s.sessionDescriptionHandlerOptionsReInvite;
    s.sessionDescriptionHandlerOptionsReInvite = { ...(saved || {}), offerOptions: { iceRestart: true } };
    const t0 = now();
    try {
      await new Promise((resolve, reject) => {
        s.invite({ requestDelegate: requestDelegate('re-INVITE', resolve, reject) }).catch(reject);
      });
    } finally {
      s.sessionDescriptionHandlerOptionsReInvite = saved;
    }
    return {
      ms: now() - t0,
      before,
      after: { local: ufrags(pc.localDescription?.sdp), remote: ufrags(pc.remoteDescription?.sdp) },
    };
  },
  async dtmf({ call, tones, method = 'rtp', duration = 100 }) {
    const s = session(call);
    if (method === 'info') {
      for (const tone of tones) {
        await new Promise((resolve, reject) => {
          s.info({
            requestOptions: {
              body: {
                contentDisposition: 'render',
                contentType: 'application/dtmf-relay',
                content: `Signal=${tone}\r\nDuration=${duration}`,
              },
            },
            requestDelegate: requestDelegate('INFO', resolve, reject),
          }).catch(reject);
        });
      }
      return { sent: tones };
    }
    const sender = calls.get(call).pc.getSenders().find((x) => x.track && x.track.kind === 'audio');
    if (!sender?.dtmf) throw new Error('no DTMF sender (telephone-event not negotiated?)');
    const played = [];
    const done = new Promise((resolve) => {
      sender.dtmf.ontonechange = (ev) => (ev.tone === '' ? resolve() : played.push(ev.tone));
    });
    if (!s.sessionDescriptionHandler.sendDtmf(tones, { duration, interToneGap: 70 })) throw new Error('sendDtmf refused');
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000 + tones.length * (duration + 100)))]);
    return { sent: played.join('') };
  },
  async message({ target, call, body, contentType = 'text/plain' }) {
    if (call) {
      await new Promise((resolve, reject) => {
        session(call).message({
          requestOptions: { body: { contentDisposition: 'render', contentType, content: body } },
          requestDelegate: requestDelegate('MESSAGE', resolve, reject),
        }).catch(reject);
      });
      return {};
    }
    const m = new Messager(ua, UserAgent.makeURI(target), body, contentType);
    await new Promise((resolve, reject) => {
      m.message({ requestDelegate: requestDelegate('MESSAGE', resolve, reject) }).catch(reject);
    });
    return {};
  },
  async refer({ call, target }) {
    await new Promise((resolve, reject) => {
      session(call).refer(UserAgent.makeURI(target), {
        requestDelegate: requestDelegate('REFER', resolve, reject),
        onNotify: (n) => {
          emit('notify', { call, body: n.request.body || '' });
          n.accept();
        },
      }).catch(reject);
    });
    return {};
  },
  stats: ({ call, window = 1000 }) => stats(call, window),
  sdp({ call }) {
    const pc = calls.get(call)?.pc;
    return { local: pc?.localDescription?.sdp ?? '', remote: pc?.remoteDescription?.sdp ?? '' };
  },
  calls() {
    return [...calls.entries()].map(([id, c]) => ({ call: id, dir: c.dir, state: c.session.state }));
  },
  async stop() {
    for (const c of calls.values()) {
      if (c.session.state === SessionState.Established) await c.session.bye().catch(() => {});
    }
    if (registerer?.state === RegistererState.Registered) {
      await new Promise((resolve) => {
        registerer.unregister({ requestDelegate: { onAccept: resolve, onReject: resolve } }).catch(resolve);
        setTimeout(resolve, 2000);
      });
    }
    await ua?.stop();
    return {};
  },
};
window.peerReady = true;
