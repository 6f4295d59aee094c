// Device-signed codes (docs/qr-format.md, version 2): the phone's own P-256 key, certified by
// the issuer, signs codes while the network is gone. The private key is made non-extractable
// by WebCrypto and kept in IndexedDB; it never leaves this browser.
// Changes together with codes/verifier.py and codes/device_signer.py (the same layout in
// Python): tests/codes/test_formats_agree.py compares PURPOSE_CODES and CERTIFICATE_SIZE.
(() => {
  "use strict";
  const PURPOSE_CODES = { transit: 2, culture: 3, identity: 4 };
  const CERTIFICATE_SIZE = 127;
  const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

  function b45encode(bytes) {
    let out = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const n = bytes[i] * 256 + bytes[i + 1];
      out += ALPHABET[n % 45] + ALPHABET[Math.floor(n / 45) % 45] + ALPHABET[Math.floor(n / 2025)];
    }
    if (bytes.length % 2) {
      const n = bytes[bytes.length - 1];
      out += ALPHABET[n % 45] + ALPHABET[Math.floor(n / 45)];
    }
    return out;
  }

  function base64(bytes) {
    return btoa(String.fromCharCode(...bytes));
  }

  function base64urlDecode(text) {
    const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0));
  }

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("ecard-device", 1);
      request.onupgradeneeded = () => request.result.createObjectStore("keys");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function stored(name, value) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("keys", value === undefined ? "readonly" : "readwrite");
      const store = tx.objectStore("keys");
      const request = value === undefined ? store.get(name) : store.put(value, name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  // One certificate per signed-in phone number on this browser, reused while it is live.
  async function certify(owner, call) {
    const name = `device:${owner}`;
    const live = await call("GET", "/api/v1/device-certificates");
    const serials = live.ok ? live.data.map((c) => c.serial) : [];
    const kept = await stored(name).catch(() => undefined);
    if (kept && serials.includes(kept.serial) && kept.notAfter - Date.now() > 3600 * 1000) {
      kept.name = name;
      return kept;
    }
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const answer = await call("POST", "/api/v1/device-certificates", { public_key: base64(raw) });
    if (!answer.ok) return null;
    const device = {
      key: pair.privateKey,
      certificate: base64urlDecode(answer.data.certificate),
      serial: answer.data.serial,
      purposes: answer.data.purposes,
      notAfter: Date.parse(answer.data.not_after),
      counter: 0,
    };
    await stored(name, device).catch(() => undefined);
    device.name = name;
    return device;
  }

  async function sign(device, purpose, now) {
    device.counter += 1;
    if (device.name) stored(device.name, device).catch(() => undefined);
    const body = new Uint8Array(1 + CERTIFICATE_SIZE + 9);
    body[0] = 2;
    body.set(device.certificate, 1);
    const view = new DataView(body.buffer);
    view.setUint8(1 + CERTIFICATE_SIZE, PURPOSE_CODES[purpose]);
    view.setUint32(2 + CERTIFICATE_SIZE, Math.floor(now / 1000));
    view.setUint32(6 + CERTIFICATE_SIZE, device.counter);
    // WebCrypto's ECDSA signature is already raw r‖s, as the format wants.
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, device.key, body));
    const all = new Uint8Array(body.length + signature.length);
    all.set(body);
    all.set(signature, body.length);
    return "EC1:" + b45encode(all);
  }

  // Drawn here, with no server: the vendored qrcode-generator, alphanumeric mode, level M.
  function draw(text) {
    const qr = qrcode(0, "M");
    qr.addData(text, "Alphanumeric");
    qr.make();
    return qr.createDataURL(8, 4);
  }

  window.ecardDevice = { certify, sign, draw };
})();
