// The holder's H5 page: sign in, the e-card, a live code, loss report, authorisations, notices
// and scan history, all through the holders' API. The tokens live in this closure only: never in
// localStorage or a cookie, so closing or reloading the page signs out.
(() => {
  "use strict";
  const T = JSON.parse(document.getElementById("texts").textContent);
  const LANG = document.documentElement.lang || "zh-hans";
  const $ = (id) => document.getElementById(id);
  const session = { access: null, refresh: null, phone: null };
  const live = {
    purpose: "payment",
    ecard: null,
    timer: null,
    tick: null,
    imageUrl: null,
    skew: 0,
    device: null, // a certified key of this phone's: codes with no network (device.js)
    preferOffline: false, // the holder's switch: always the phone's own codes
    member: null, // a family member whose code this presenter shows: { id, name }
    turn: 0, // which issueCode call may still draw
  };

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => (name in values ? values[name] : ""));
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function row(list, parts) {
    const li = document.createElement("li");
    for (const [text, cls] of parts) {
      const span = document.createElement("span");
      span.textContent = text;
      if (cls) span.className = cls;
      li.appendChild(span);
    }
    list.appendChild(li);
    return li;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // ------------------------------------------------------------------ the API
  // A write carries its own Idempotency-Key, kept when it is sent again after a token refresh:
  // a form submitted twice over a flaky network applies once.
  async function call(method, path, body, retried) {
    const headers = { Accept: "application/json", "Accept-Language": LANG };
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    const multipart = body instanceof FormData;
    if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
    if (method !== "GET") {
      retried = retried || { key: crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}` };
      headers["Idempotency-Key"] = retried.key;
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      return { ok: false, status: 0, data: { message: T.networkError } };
    }
    if (response.status === 401 && session.refresh && !(retried && retried.again) && (await refreshTokens())) {
      return call(method, path, body, { ...(retried || {}), again: true });
    }
    if (response.status === 401 && session.access) {
      signedOut();
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.blob();
    return { ok: response.ok, status: response.status, data, date: response.headers.get("Date") };
  }

  // What a refusal says, in the page's language (the API answers in it).
  function reason(answer) {
    return (answer.data && answer.data.message) || T.networkError;
  }

  // The real-person check (实人认证): the app's face-match SDK through its bridge; in development,
  // the development provider's token (offered only while that provider is configured).
  function faceCheck() {
    const bridge = window.ecardRealPerson;
    if (bridge && typeof bridge.check === "function") return Promise.resolve(bridge.check());
    return new Promise((resolve) => {
      $("face-dev").hidden = !T.devIdentityToken;
      show("face", true);
      const done = (token) => {
        show("face", false);
        $("face-start").onclick = $("face-cancel").onclick = null;
        resolve(token);
      };
      $("face-start").onclick = () => done(T.devIdentityToken || null);
      $("face-cancel").onclick = () => done(null);
    });
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (cls) b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  async function refreshTokens() {
    const answer = await fetch("/api/v1/auth/token/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": LANG },
      body: JSON.stringify({ refresh: session.refresh }),
      credentials: "omit",
    }).catch(() => null);
    if (!answer || !answer.ok) return false;
    const pair = await answer.json();
    session.access = pair.access;
    session.refresh = pair.refresh;
    return true;
  }

  // ------------------------------------------------------------------ signing in and out
  async function signIn(phone, password, error) {
    const answer = await call("POST", "/api/v1/auth/token", { phone, password });
    if (!answer.ok) {
      error.textContent = answer.data.message || T.signInFailed;
      return;
    }
    session.access = answer.data.access;
    session.refresh = answer.data.refresh;
    session.phone = phone;
    show("sign-in", false);
    show("register", false);
    show("app", true);
    show("sign-out", true);
    show("reload", true);
    await load();
  }

  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("sign-in-error").textContent = "";
    const password = form.password.value;
    form.password.value = "";
    await signIn(form.phone.value.trim(), password, $("sign-in-error"));
  });

  // ------------------------------------------------------------------ registering (注册)
  $("to-register").addEventListener("click", () => {
    show("sign-in", false);
    show("register", true);
  });
  $("register-cancel").addEventListener("click", () => {
    show("register", false);
    show("sign-in", true);
  });
  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const error = $("register-error");
    error.textContent = "";
    const phone = form.phone.value.trim();
    const password = form.password.value;
    const answer = await call("POST", "/api/v1/auth/register", { phone, password });
    if (!answer.ok) {
      error.textContent = reason(answer);
      return;
    }
    form.password.value = "";
    await signIn(phone, password, error);
  });

  // ------------------------------------------------------------------ binding the e-card (申领)
  // Printed details only name the card; the SMS to the phone on file and the face check prove
  // the person (docs/holders-api.md).
  let challenge = null;

  function named(form) {
    return {
      name: form.name.value.trim(),
      id_number: form.id_number.value.trim(),
      card_number: form.card_number.value.trim(),
    };
  }

  $("bind-send").addEventListener("click", async () => {
    const form = $("bind-form");
    $("bind-error").textContent = "";
    const answer = await call("POST", "/api/v1/ecard/apply/challenge", named(form));
    if (!answer.ok) {
      $("bind-error").textContent = reason(answer);
      return;
    }
    challenge = answer.data.challenge_id;
    $("bind-sent").textContent = format(T.codeSent, { phone: answer.data.phone_masked });
    show("bind-confirm", true);
  });

  $("bind-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("bind-error").textContent = "";
    if (!challenge) return;
    const token = await faceCheck();
    if (!token) {
      $("bind-error").textContent = T.faceNeeded;
      return;
    }
    const answer = await call("POST", "/api/v1/ecard/apply", {
      ...named(form),
      challenge_id: challenge,
      sms_code: form.sms_code.value.trim(),
      identity_token: token,
      password: form.password.value,
    });
    form.password.value = "";
    if (!answer.ok) {
      $("bind-error").textContent = reason(answer);
      return;
    }
    challenge = null;
    form.reset();
    show("bind-confirm", false);
    await load();
  });

  $("sign-out").addEventListener("click", async () => {
    await call("POST", "/api/v1/auth/logout");
    signedOut();
  });

  // What staff did at the counter or the card factory since: the page asks again.
  $("reload").addEventListener("click", () => load());

  function signedOut() {
    challenge = null;
    session.access = session.refresh = session.phone = null;
    live.device = null;
    live.member = null;
    live.ecard = null;
    stopCode();
    show("app", false);
    show("sign-out", false);
    show("reload", false);
    show("sign-in", true);
  }

  // ------------------------------------------------------------------ the e-card
  const CARD_SCREENS = ["card", "code", "services", "loss", "enable", "apply", "secrets", "authorise", "agreements", "family", "offline", "usage"];

  async function load() {
    stopCode(); // the card may have changed: no code on screen until one is issued for it
    const answer = await call("GET", "/api/v1/ecard");
    await loadApplications();
    if (!answer.ok) {
      for (const id of CARD_SCREENS) show(id, false);
      live.ecard = null;
      $("no-ecard").textContent = answer.status === 404 ? T.noECard : reason(answer);
      show("no-ecard", true);
      show("bind", answer.status === 404);
      await loadNotices();
      return;
    }
    show("no-ecard", false);
    show("bind", false);
    live.ecard = answer.data;
    drawCard(answer.data);
    drawServices(answer.data.services);
    drawCards(answer.data.cards);
    drawApply(answer.data);
    show("secrets", true);
    await Promise.all([loadAuthorisations(), loadAgreements(), loadFamily(), loadNotices(), loadUsage()]);
    chooseUsablePurpose();
    await issueCode();
    await certifyDevice();
    drawOffline();
  }

  async function certifyDevice() {
    live.device = null;
    delete document.body.dataset.device;
    if (!window.crypto || !crypto.subtle || !window.indexedDB || !window.ecardDevice) return;
    try {
      live.device = await window.ecardDevice.certify(session.phone, call);
    } catch (err) {
      live.device = null; // no WebCrypto P-256 here: codes need the network
    }
    if (live.device) document.body.dataset.device = String(live.device.serial);
  }

  // The network is gone: the phone signs the code itself with its certified key.
  async function offlineCode() {
    const device = live.device;
    const status = $("qr-status");
    if (!device || device.notAfter <= Date.now()) {
      stopCode();
      status.textContent = T.networkError;
      live.timer = setTimeout(issueCode, 5000);
      return;
    }
    const purpose = device.purposes.includes(live.purpose) ? live.purpose : device.purposes[0];
    const text = await window.ecardDevice.sign(device, purpose, Date.now() - live.skew);
    showCode(text, "device", window.ecardDevice.draw(text), null);
    selectTab(purpose);
    // Half its lifetime: the scanner's clock may be a little behind or ahead of the phone's.
    refreshAt(Date.now() + Math.max(2000, (T.lifetimes[purpose] || 60) * 500), T.offline);
  }

  function selectTab(purpose) {
    for (const tab of document.querySelectorAll("[data-purpose][role=tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.purpose === purpose));
    }
  }

  // ``member``: the family member whose code it is (their link id), none for the holder's own.
  function showCode(text, kind, src, blobUrl, member) {
    if (live.imageUrl) URL.revokeObjectURL(live.imageUrl);
    live.imageUrl = blobUrl;
    const img = $("qr");
    img.src = src;
    img.dataset.code = text;
    img.dataset.kind = kind;
    img.dataset.member = member ? member.id : "";
    img.hidden = false;
  }

  // Draw the next code at ``until`` (this phone's clock), counting the seconds down till then.
  function refreshAt(until, template) {
    clearTimeout(live.timer);
    clearInterval(live.tick);
    live.timer = setTimeout(issueCode, Math.max(1000, until - Date.now()));
    const countdown = () => {
      const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      $("qr-status").textContent = format(template, { seconds });
    };
    countdown();
    live.tick = setInterval(countdown, 1000);
  }

  function drawCard(body) {
    const card = body.card;
    $("card-name").textContent = body.holder.name_masked;
    $("card-id").textContent = body.holder.id_number_masked;
    $("card-number").textContent = card.number_masked;
    $("card-valid").textContent = card.valid_until;
    const state = $("card-state");
    state.textContent = card.state_text;
    state.dataset.state = card.state;
    state.className = "card-state" + (card.state === "active" ? "" : " bad");
    const deadline = $("card-deadline");
    deadline.hidden = !card.formalisation_deadline;
    deadline.textContent = card.formalisation_deadline
      ? `${T.lossReported}${format(T.deadline, { deadline: when(card.formalisation_deadline) })}`
      : "";
    show("card", true);
    const inHand = card.state === "active" || card.state === "sealed";
    const lost = card.state === "temporarily_lost";
    show("loss", inHand || lost);
    show("loss-report", inHand);
    show("loss-lift", lost);
    show("confirm-lost", false);
    show("report-lost", true);
    $("loss-error").textContent = "";
    // A collected card not yet enabled: the holder enables it here (or by a first PIN change).
    const waiting = body.cards.find((c) => c.state === "sealed" && c.received);
    show("enable", Boolean(waiting));
    $("enable-error").textContent = "";
    if (waiting) $("enable-what").textContent = format(T.enableWhat, { number: waiting.number_masked });
  }

  // A holder with more than one card (a new province's being made, a replacement collected):
  // each with its state, and which one the e-card and its codes are on.
  function drawCards(cards) {
    const list = $("card-list");
    clear(list);
    for (const card of cards) {
      const li = row(list, [
        [format(T.cardIn, { number: card.number_masked, region: card.region }), ""],
        [card.in_production ? T.inProduction : card.state_text, card.state === "active" ? "verdict-allowed" : "muted"],
        ...(card.current ? [[T.currentCard, "reason"]] : []),
      ]);
      li.dataset.region = card.region;
      li.dataset.current = card.current ? "true" : "false";
    }
    show("cards", cards.length > 1);
  }

  function drawServices(services) {
    const list = $("service-list");
    clear(list);
    const needing = [];
    for (const [purpose, answer] of Object.entries(services)) {
      const li = row(list, [
        [T.purposes[purpose], ""],
        [T.verdicts[answer.verdict], `verdict-${answer.verdict}`],
        ...(answer.message ? [[answer.message, "reason"]] : []),
      ]);
      li.dataset.purpose = purpose;
      li.dataset.verdict = answer.verdict;
      if (answer.verdict === "needs_authorisation") needing.push(purpose);
    }
    show("services", true);
    drawMember(); // the code tabs: which purposes may be shown, and why not
    const box = $("authorise-purposes");
    for (const old of box.querySelectorAll("label")) old.remove();
    for (const purpose of needing) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "purposes";
      input.value = purpose;
      input.checked = true;
      label.append(input, T.purposes[purpose]);
      box.appendChild(label);
    }
    show("authorise", needing.length > 0);
  }

  function chooseUsablePurpose() {
    if (!live.ecard) return;
    const services = live.ecard.services;
    if (services[live.purpose].verdict !== "denied") return;
    const usable = Object.keys(services).find((p) => services[p].verdict !== "denied");
    if (usable) live.purpose = usable;
  }

  // ------------------------------------------------------------------ the live code
  for (const tab of document.querySelectorAll("[data-purpose][role=tab]")) {
    tab.addEventListener("click", () => {
      live.purpose = tab.dataset.purpose;
      issueCode();
    });
  }

  function stopCode() {
    clearTimeout(live.timer);
    clearInterval(live.tick);
    live.timer = live.tick = null;
    if (live.imageUrl) URL.revokeObjectURL(live.imageUrl);
    live.imageUrl = null;
    const img = $("qr");
    img.hidden = true;
    img.removeAttribute("src");
    delete img.dataset.code;
    delete img.dataset.kind;
    delete img.dataset.member;
  }

  // Whose code: the holder's own, or a family member's shown by this presenter (亲情账户).
  function forWhom(member) {
    return member ? `?member=${encodeURIComponent(member.id)}` : "";
  }

  function drawMember() {
    show("showing-member", Boolean(live.member));
    if (live.member) $("showing-member-name").textContent = format(T.showingMember, { name: live.member.name });
    for (const tab of document.querySelectorAll("[data-purpose][role=tab]")) {
      const purpose = tab.dataset.purpose;
      if (live.member) {
        tab.disabled = !T.familyPurposes.includes(purpose);
        tab.title = "";
      } else if (live.ecard) {
        const answer = live.ecard.services[purpose];
        tab.disabled = answer.verdict === "denied";
        tab.title = answer.message || "";
      }
    }
  }

  // Each call draws one code; a newer call (a tab tapped, a member chosen) supersedes an older
  // one still waiting for the server, which then draws nothing.
  async function issueCode() {
    clearTimeout(live.timer);
    const turn = ++live.turn;
    const member = live.member;
    const purpose = live.purpose;
    drawMember();
    selectTab(purpose);
    show("code", true);
    const status = $("qr-status");
    status.textContent = T.refreshing;
    // The holder chose codes this phone signs itself (a gate with no network, a weak signal).
    if (live.preferOffline && live.device && !member) {
      await offlineCode();
      return;
    }
    const answer = await call("POST", `/api/v1/codes${forWhom(member)}`, { purpose });
    if (turn !== live.turn) return;
    if (answer.status === 0 && !member) {
      await offlineCode();
      return;
    }
    if (!answer.ok) {
      stopCode();
      status.textContent = answer.data.message || T.codeUnavailable;
      return;
    }
    const code = answer.data.code;
    const image = await call("GET", `/api/v1/codes/${encodeURIComponent(code)}.svg${forWhom(member)}`);
    if (turn !== live.turn) return;
    if (image.status === 0 && !member) {
      await offlineCode();
      return;
    }
    if (!image.ok) {
      stopCode();
      status.textContent = T.codeUnavailable;
      return;
    }
    const url = URL.createObjectURL(image.data);
    showCode(code, "server", url, url, member);
    // The phone's clock may be off: count down on the server's.
    live.skew = answer.date ? Date.now() - new Date(answer.date).getTime() : 0;
    const expires = new Date(answer.data.expires_at).getTime() + live.skew;
    // Refresh a little before expiry so that the code on screen always scans.
    const lead = Math.min(10000, Math.max(2000, (expires - Date.now()) * 0.2));
    refreshAt(expires - lead, T.refreshIn);
  }

  $("back-to-own").addEventListener("click", () => {
    live.member = null;
    chooseUsablePurpose();
    issueCode();
  });

  // A hidden page shows nobody a code: stop, and draw a fresh one when it is seen again.
  document.addEventListener("visibilitychange", () => {
    if (!session.access || !live.ecard) return;
    if (document.hidden) {
      clearTimeout(live.timer);
      clearInterval(live.tick);
    } else {
      issueCode();
    }
  });

  // ------------------------------------------------------------------ report lost
  $("report-lost").addEventListener("click", () => {
    show("report-lost", false);
    show("confirm-lost", true);
  });
  $("confirm-lost-no").addEventListener("click", () => {
    show("confirm-lost", false);
    show("report-lost", true);
  });
  $("confirm-lost-yes").addEventListener("click", async () => {
    $("loss-error").textContent = "";
    const answer = await call("POST", "/api/v1/card/loss-report", {});
    if (!answer.ok) {
      $("loss-error").textContent = answer.data.message;
      return;
    }
    await load();
  });

  // ------------------------------------------------------------------ authorisations while lost
  $("authorise-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("authorise-error").textContent = "";
    const purposes = [...form.querySelectorAll("input[name=purposes]:checked")].map((i) => i.value);
    const answer = await call("POST", "/api/v1/ecard/authorisations", {
      password: form.password.value,
      purposes,
      minutes: Number(form.minutes.value),
    });
    form.password.value = "";
    if (!answer.ok) {
      $("authorise-error").textContent = answer.data.message;
      return;
    }
    await load();
  });

  async function loadAuthorisations() {
    const answer = await call("GET", "/api/v1/ecard/authorisations");
    const list = $("authorisation-list");
    clear(list);
    if (!answer.ok) return;
    for (const grant of answer.data.filter((g) => g.live)) {
      row(list, [
        [format(T.authorised, { purposes: grant.purposes.map((p) => T.purposes[p]).join(T.separator) }), ""],
        [format(T.until, { time: when(grant.expires_at) }), "muted"],
      ]);
    }
  }

  // ------------------------------------------------------------------ transit payment agreements
  // A provider only proposes; the holder confirms here with the e-card password, or declines.
  let asking = null;

  async function loadAgreements() {
    const answer = await call("GET", "/api/v1/ecard/payment-agreements");
    const list = $("agreement-list");
    clear(list);
    asking = null;
    show("agreement-form", false);
    $("agreement-error").textContent = "";
    if (!answer.ok) return show("agreements", false);
    show("agreements", true);
    const shown = answer.data.filter((a) => a.state === "pending" || a.state === "live");
    for (const agreement of shown) {
      const li = row(list, [
        [`${agreement.provider} ${agreement.account_masked}`, ""],
        [T.agreementStates[agreement.state], agreement.state === "live" ? "verdict-allowed" : "muted"],
      ]);
      li.dataset.state = agreement.state;
      li.dataset.id = agreement.id;
      if (agreement.state === "live") li.appendChild(button(T.endAgreement, "danger", () => endAgreement(agreement)));
      if (agreement.state === "pending" && !asking) asking = agreement;
    }
    if (!shown.length) row(list, [[T.noAgreements, "muted"]]);
    if (asking) {
      $("agreement-asked").textContent = format(T.agreementAsked, {
        provider: asking.provider,
        account: asking.account_masked,
      });
      show("agreement-form", true);
    }
  }

  async function endAgreement(agreement) {
    const answer = await call("DELETE", `/api/v1/ecard/payment-agreements/${agreement.id}`);
    if (!answer.ok) {
      $("agreement-error").textContent = reason(answer);
      return;
    }
    await load(); // transit closes with it: the services and the code tabs change
  }

  $("agreement-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const answer = await call("POST", `/api/v1/ecard/payment-agreements/${asking.id}/confirm`, {
      password: form.password.value,
    });
    form.password.value = "";
    if (!answer.ok) {
      $("agreement-error").textContent = answer.data.message;
      return;
    }
    await load(); // transit is open now: the services and the code tabs change with it
  });

  $("agreement-decline").addEventListener("click", async () => {
    const answer = await call("DELETE", `/api/v1/ecard/payment-agreements/${asking.id}`);
    if (!answer.ok) {
      $("agreement-error").textContent = answer.data.message;
      return;
    }
    await loadAgreements();
  });

  // ------------------------------------------------------------------ lifting a loss (解挂)
  // The phone may have been lost with the card: the face check proves the holder has both back.
  $("lift-loss").addEventListener("click", async () => {
    $("loss-error").textContent = "";
    const token = await faceCheck();
    if (!token) {
      $("loss-error").textContent = T.faceNeeded;
      return;
    }
    const answer = await call("POST", "/api/v1/card/loss-lift", { identity_token: token });
    if (!answer.ok) {
      $("loss-error").textContent = reason(answer);
      return;
    }
    await load();
  });

  // ------------------------------------------------------------------ enabling a collected card
  $("enable-card").addEventListener("click", async () => {
    const answer = await call("POST", "/api/v1/card/enable", {});
    if (!answer.ok) {
      $("enable-error").textContent = reason(answer);
      return;
    }
    await load();
  });

  // ------------------------------------------------------------------ replacement and renewal (换领)
  // What the card's state allows: a lost card is replaced for loss, one in hand for damage, and
  // one near its expiry renewed. The server decides; the choice only leaves out the impossible.
  function drawApply(body) {
    const card = body.card;
    const kinds = [];
    if (card.state === "temporarily_lost" || card.state === "lost") kinds.push("replacement_loss");
    if (card.state === "active" || card.state === "sealed") kinds.push("replacement_damage");
    if (card.renewal_open) kinds.push("renewal");
    const select = $("apply-form").kind;
    clear(select);
    for (const kind of kinds) {
      const option = document.createElement("option");
      option.value = kind;
      option.textContent = T.applicationKinds[kind];
      select.appendChild(option);
    }
    $("apply-error").textContent = "";
    // One replacement at a time: while one is being made, its progress is what there is to see.
    show("apply", kinds.length > 0 && !card.replacement);
  }

  for (const radio of document.querySelectorAll("#apply-form input[name=delivery]")) {
    radio.addEventListener("change", () => {
      const post = $("apply-form").delivery.value === "post";
      show("apply-outlet", !post);
      show("apply-address", post);
    });
  }

  $("apply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("apply-error").textContent = "";
    const token = await faceCheck();
    if (!token) {
      $("apply-error").textContent = T.faceNeeded;
      return;
    }
    const body = new FormData();
    body.append("kind", form.kind.value);
    body.append("identity_token", token);
    body.append("delivery", form.delivery.value);
    if (form.delivery.value === "post") body.append("postal_address", form.postal_address.value);
    else body.append("outlet", form.outlet.value);
    if (form.photo.files.length) body.append("photo", form.photo.files[0]);
    const answer = await call("POST", "/api/v1/card-applications", body);
    if (!answer.ok) {
      $("apply-error").textContent = reason(answer);
      return;
    }
    form.reset();
    show("apply-outlet", true);
    show("apply-address", false);
    await load(); // a temporary loss became formal, a new card is being made
    $("applications").scrollIntoView();
  });

  // ------------------------------------------------------------------ following applications (办理进度)
  const WITHDRAWABLE = ["submitted", "accepted"];
  const CERTIFIED = ["submitted", "accepted", "in_production", "ready"];

  async function loadApplications() {
    const answer = await call("GET", "/api/v1/card-applications");
    const list = $("application-list");
    clear(list);
    $("applications-error").textContent = "";
    const found = answer.ok ? answer.data : [];
    show("applications", found.length > 0);
    for (const application of found) {
      const li = row(list, [
        [T.applicationKinds[application.kind], "title"],
        [T.applicationStates[application.state], application.state === "rejected" ? "verdict-denied" : "verdict-allowed"],
        [when(application.created_at), "muted"],
      ]);
      li.dataset.state = application.state;
      li.dataset.id = application.id;
      const detail = where(application);
      if (detail) row(list, [[detail, "reason"]]).dataset.detail = application.id;
      if (application.kind !== "new" && CERTIFIED.includes(application.state)) {
        li.appendChild(button(T.certificate, "", () => openCertificate(application)));
      }
      if (WITHDRAWABLE.includes(application.state)) {
        li.appendChild(button(T.withdraw, "danger", () => withdraw(application)));
      }
    }
  }

  function where(application) {
    if (application.state === "rejected") return application.reject_reason;
    if (application.state !== "ready") return "";
    if (application.delivery === "post") return format(T.posted, { number: application.tracking_number });
    return format(T.collectAt, { outlet: application.outlet, date: application.collect_by || "" });
  }

  // The PDF comes with the bearer token, so it is fetched here and handed over as a file.
  async function openCertificate(application) {
    const answer = await call("GET", `/api/v1/card-applications/${application.id}/certificate.pdf`);
    if (!answer.ok) {
      $("applications-error").textContent = reason(answer);
      return;
    }
    const url = URL.createObjectURL(answer.data);
    const link = document.createElement("a");
    link.href = url;
    link.download = T.certificateFile;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  async function withdraw(application) {
    const answer = await call("POST", `/api/v1/card-applications/${application.id}/withdraw`, {});
    if (!answer.ok) {
      $("applications-error").textContent = reason(answer);
      return;
    }
    await load();
  }

  // ------------------------------------------------------------------ the PIN and the e-card password
  function secretForm(id, path, names, done) {
    $(id).addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const error = $(`${id.replace("-form", "")}-error`);
      error.textContent = "";
      $("secrets-done").textContent = "";
      const answer = await call("POST", path, { [names[0]]: form.old.value, [names[1]]: form.new.value });
      form.old.value = form.new.value = "";
      if (!answer.ok) {
        error.textContent = reason(answer);
        return;
      }
      await done();
    });
  }

  secretForm("pin-form", "/api/v1/card/pin", ["old_pin", "new_pin"], async () => {
    await load(); // a first change of an initial PIN enables a collected card
    $("secrets-done").textContent = T.pinChanged;
  });
  secretForm("password-form", "/api/v1/ecard/password", ["old_password", "new_password"], async () => {
    $("secrets-done").textContent = T.passwordChanged;
  });

  // ------------------------------------------------------------------ family accounts (亲情账户)
  async function loadFamily() {
    const [members, invitations, presenters] = await Promise.all([
      call("GET", "/api/v1/family"),
      call("GET", "/api/v1/family/invitations"),
      call("GET", "/api/v1/family/presenters"),
    ]);
    show("family", members.ok);
    $("family-error").textContent = "";
    if (!members.ok) return;
    const relation = (link) => T.relationships[link.relationship] || link.relationship;

    // A member who ended the link (or whose link lapsed) is shown no longer.
    if (live.member && !members.data.some((l) => l.id === live.member.id && l.state === "active")) {
      live.member = null;
    }
    const memberList = $("member-list");
    clear(memberList);
    for (const link of members.data.filter((l) => l.state !== "ended")) {
      const li = row(memberList, [
        [`${link.member_name_masked}（${relation(link)}）`, ""],
        [T.linkStates[link.state] || link.state, link.state === "active" ? "verdict-allowed" : "muted"],
      ]);
      li.dataset.id = link.id;
      li.dataset.state = link.state;
      if (link.state === "active") {
        li.appendChild(
          button(T.showMemberCode, "", () => {
            live.member = { id: link.id, name: link.member_name_masked };
            if (!T.familyPurposes.includes(live.purpose)) live.purpose = T.familyPurposes[0];
            issueCode();
            $("code").scrollIntoView();
          }),
        );
      }
      li.appendChild(button(T.endLink, "danger", () => endLink(`/api/v1/family/${link.id}`, link)));
    }
    if (!memberList.children.length) row(memberList, [[T.noMembers, "muted"]]);

    const invitationList = $("invitation-list");
    clear(invitationList);
    inviting = null;
    show("accept-form", false);
    for (const link of invitations.ok ? invitations.data : []) {
      const li = row(invitationList, [
        [`${link.presenter_name_masked}（${relation(link)}）`, ""],
        [format(T.until, { time: when(link.expires_at) }), "muted"],
      ]);
      li.dataset.id = link.id;
      if (!inviting) inviting = link;
    }
    if (!invitationList.children.length) row(invitationList, [[T.noInvitations, "muted"]]);
    if (inviting) {
      $("accept-asked").textContent = format(T.acceptAsked, { presenter: inviting.presenter_name_masked });
      $("accept-error").textContent = "";
      show("accept-form", true);
    }

    const presenterList = $("presenter-list");
    clear(presenterList);
    for (const link of presenters.ok ? presenters.data.filter((l) => l.state === "active") : []) {
      const li = row(presenterList, [[`${link.presenter_name_masked}（${relation(link)}）`, ""]]);
      li.dataset.id = link.id;
      li.appendChild(button(T.endLink, "danger", () => endLink(`/api/v1/family/presenters/${link.id}`, link)));
    }
    if (!presenterList.children.length) row(presenterList, [[T.noPresenters, "muted"]]);
  }

  let inviting = null;

  async function endLink(path, link) {
    const answer = await call("DELETE", path);
    if (!answer.ok) {
      $("family-error").textContent = reason(answer);
      return;
    }
    if (live.member && live.member.id === link.id) live.member = null;
    await load();
  }

  $("invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("invite-error").textContent = "";
    const answer = await call("POST", "/api/v1/family", {
      name: form.name.value.trim(),
      id_number: form.id_number.value.trim(),
      relationship: form.relationship.value,
    });
    if (!answer.ok) {
      $("invite-error").textContent = reason(answer);
      return;
    }
    form.reset();
    await loadFamily();
  });

  $("accept-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const answer = await call("POST", `/api/v1/family/invitations/${inviting.id}/accept`, {
      password: form.password.value,
    });
    form.password.value = "";
    if (!answer.ok) {
      $("accept-error").textContent = reason(answer);
      return;
    }
    await loadFamily();
  });

  // ------------------------------------------------------------------ offline codes
  function drawOffline() {
    const device = live.device;
    show("offline", Boolean(device));
    if (!device) return;
    $("offline-switch").checked = live.preferOffline;
    $("offline-state").textContent = format(T.deviceUntil, { time: when(new Date(device.notAfter).toISOString()) });
  }

  $("offline-switch").addEventListener("change", (event) => {
    live.preferOffline = event.target.checked;
    if (!live.member) issueCode();
  });

  // ------------------------------------------------------------------ notices and scans
  async function loadNotices() {
    const answer = await call("GET", "/api/v1/notices?page_size=10");
    const list = $("notice-list");
    clear(list);
    show("notices", true);
    if (!answer.ok) return;
    const english = LANG.startsWith("en");
    for (const notice of answer.data.results) {
      const li = row(list, [
        [english ? notice.title_en : notice.title, "title"],
        [english ? notice.body_en : notice.body, ""],
        [when(notice.created_at), "muted"],
      ]);
      li.dataset.kind = notice.kind;
      // A notice that sends the holder to a screen of the app takes them there.
      const named = /App“([^”]+)”/.exec(notice.body);
      const screen = named && document.querySelector(`[data-screen="${named[1]}"]`);
      if (screen && !screen.hidden) li.appendChild(button(T.goTo, "", () => screen.scrollIntoView()));
    }
    if (!answer.data.results.length) row(list, [[T.noNotices, "muted"]]);
  }

  async function loadUsage() {
    const answer = await call("GET", "/api/v1/ecard/usage?page_size=10");
    const list = $("usage-list");
    clear(list);
    show("usage", true);
    if (!answer.ok) return;
    for (const scan of answer.data.results) {
      row(list, [
        [`${T.purposes[scan.purpose] || scan.purpose} · ${scan.organisation}`, ""],
        [T[scan.result] || scan.result, scan.result === "accepted" ? "verdict-allowed" : "verdict-denied"],
        [when(scan.scanned_at), "muted"],
      ]);
    }
    if (!answer.data.results.length) row(list, [[T.noScans, "muted"]]);
  }
})();
