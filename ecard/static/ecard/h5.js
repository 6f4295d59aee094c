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
  async function call(method, path, body, retried) {
    const headers = { Accept: "application/json", "Accept-Language": LANG };
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      return { ok: false, status: 0, data: { message: T.networkError } };
    }
    if (response.status === 401 && session.refresh && !retried && (await refreshTokens())) {
      return call(method, path, body, true);
    }
    if (response.status === 401 && session.access) {
      signedOut();
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.blob();
    return { ok: response.ok, status: response.status, data, date: response.headers.get("Date") };
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
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("sign-in-error").textContent = "";
    const answer = await call("POST", "/api/v1/auth/token", {
      phone: form.phone.value.trim(),
      password: form.password.value,
    });
    form.password.value = "";
    if (!answer.ok) {
      $("sign-in-error").textContent = answer.data.message || T.signInFailed;
      return;
    }
    session.access = answer.data.access;
    session.refresh = answer.data.refresh;
    session.phone = form.phone.value.trim();
    show("sign-in", false);
    show("app", true);
    show("sign-out", true);
    await load();
  });

  $("sign-out").addEventListener("click", async () => {
    await call("POST", "/api/v1/auth/logout");
    signedOut();
  });

  function signedOut() {
    session.access = session.refresh = session.phone = null;
    live.device = null;
    stopCode();
    show("app", false);
    show("sign-out", false);
    show("sign-in", true);
  }

  // ------------------------------------------------------------------ the e-card
  async function load() {
    stopCode(); // the card may have changed: no code on screen until one is issued for it
    const answer = await call("GET", "/api/v1/ecard");
    if (!answer.ok) {
      for (const id of ["card", "code", "services", "loss", "authorise", "agreements", "usage"]) show(id, false);
      $("no-ecard").textContent = answer.status === 404 ? T.noECard : answer.data.message;
      show("no-ecard", true);
      await loadNotices();
      return;
    }
    show("no-ecard", false);
    live.ecard = answer.data;
    drawCard(answer.data);
    drawServices(answer.data.services);
    drawCards(answer.data.cards);
    await Promise.all([loadAuthorisations(), loadAgreements(), loadNotices(), loadUsage()]);
    chooseUsablePurpose();
    await issueCode();
    await certifyDevice();
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

  function showCode(text, kind, src, blobUrl) {
    if (live.imageUrl) URL.revokeObjectURL(live.imageUrl);
    live.imageUrl = blobUrl;
    const img = $("qr");
    img.src = src;
    img.dataset.code = text;
    img.dataset.kind = kind;
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
    show("loss", card.state === "active" || card.state === "sealed");
    show("confirm-lost", false);
    show("report-lost", true);
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
    for (const tab of document.querySelectorAll("[data-purpose][role=tab]")) {
      const answer = services[tab.dataset.purpose];
      tab.disabled = answer.verdict === "denied";
      tab.title = answer.message || "";
    }
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
  }

  async function issueCode() {
    clearTimeout(live.timer);
    selectTab(live.purpose);
    show("code", true);
    const status = $("qr-status");
    status.textContent = T.refreshing;
    const answer = await call("POST", "/api/v1/codes", { purpose: live.purpose });
    if (answer.status === 0) {
      await offlineCode();
      return;
    }
    if (!answer.ok) {
      stopCode();
      status.textContent = answer.data.message || T.codeUnavailable;
      return;
    }
    const code = answer.data.code;
    const image = await call("GET", `/api/v1/codes/${encodeURIComponent(code)}.svg`);
    if (image.status === 0) {
      await offlineCode();
      return;
    }
    if (!image.ok) {
      stopCode();
      status.textContent = T.codeUnavailable;
      return;
    }
    const url = URL.createObjectURL(image.data);
    showCode(code, "server", url, url);
    // The phone's clock may be off: count down on the server's.
    live.skew = answer.date ? Date.now() - new Date(answer.date).getTime() : 0;
    const expires = new Date(answer.data.expires_at).getTime() + live.skew;
    // Refresh a little before expiry so that the code on screen always scans.
    const lead = Math.min(10000, Math.max(2000, (expires - Date.now()) * 0.2));
    refreshAt(expires - lead, T.refreshIn);
  }

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
    if (!answer.ok) return show("agreements", false);
    const shown = answer.data.filter((a) => a.state === "pending" || a.state === "live");
    show("agreements", shown.length > 0);
    for (const agreement of shown) {
      const li = row(list, [
        [`${agreement.provider} ${agreement.account_masked}`, ""],
        [T.agreementStates[agreement.state], agreement.state === "live" ? "verdict-allowed" : "muted"],
      ]);
      li.dataset.state = agreement.state;
      if (agreement.state === "pending" && !asking) asking = agreement;
    }
    if (asking) {
      $("agreement-asked").textContent = format(T.agreementAsked, {
        provider: asking.provider,
        account: asking.account_masked,
      });
      $("agreement-error").textContent = "";
      show("agreement-form", true);
    }
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
