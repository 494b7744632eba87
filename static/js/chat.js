// The chat's answers stream in: the form is posted with fetch and the server's events read as
// they arrive. Without JavaScript the same form posts and the page reloads with the answer.
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const list = document.getElementById("conversation");
  const stop = document.getElementById("chat-stop");
  const textarea = form.querySelector("textarea[name=message]");
  let running = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function parseEvents(buffer, onEvent) {
    const blocks = buffer.split("\n\n");
    const rest = blocks.pop();
    for (const block of blocks) {
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
    return rest;
  }

  function listConversation(data) {  // a new conversation joins the list at the top, and names the page
    const heading = document.querySelector(".chat-main > h1");
    if (heading) heading.textContent = data.title;
    document.querySelectorAll(".chat-main > .hint").forEach(function (node) { node.remove(); });
    document.title = data.title + " · Chat · OptiRoute";
    const items = document.querySelector(".chat-list ul");
    if (!items) return;
    items.querySelectorAll(".hint").forEach(function (node) { node.remove(); });
    const link = el("a", "", data.title);
    link.href = data.url;
    link.setAttribute("aria-current", "page");
    const item = el("li");
    item.appendChild(link);
    items.prepend(item);
  }

  async function send(body) {
    const question = el("article", "msg user");
    question.appendChild(el("div", "answer-body", body.get("message")));
    const answer = el("article", "msg assistant streaming");
    answer.setAttribute("aria-live", "polite");
    answer.setAttribute("aria-busy", "true");
    const text = el("div", "answer-body");
    const waiting = el("p", "waiting", "Choosing a model and waiting for its first words (a local model may take a while to load)…");
    answer.append(waiting, text);
    list.append(question, answer);
    answer.scrollIntoView({block: "end"});
    const controller = new AbortController();
    running = controller;
    stop.hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    try {
      const response = await fetch(form.dataset.streamUrl, {method: "POST", body: body, signal: controller.signal,
        headers: {"X-CSRFToken": body.get("csrfmiddlewaretoken")}});
      if (!response.ok) {
        answer.replaceChildren(el("p", "notice error", await response.text()));
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + decoder.decode(value, {stream: true}), function (name, data) {
          if (name === "conversation") {
            if (!form.querySelector("input[name=conversation]").value) listConversation(data);
            form.querySelector("input[name=conversation]").value = data.id;
            form.action = data.url;
            if (location.pathname !== data.url) history.replaceState(null, "", data.url);
          } else if (name === "delta") {
            waiting.remove();
            text.textContent += data.text;
          } else if (name === "done") {
            const holder = document.createElement("div");
            holder.innerHTML = data.html;
            const finished = holder.firstElementChild;
            answer.replaceWith(finished);
            if (window.htmx) window.htmx.process(finished);
          }
        });
      }
    } catch (error) {
      if (error.name !== "AbortError") answer.append(el("p", "notice error", "The connection broke: " + error.message));
      else {  // the server keeps what was generated, marked partial, and bills it once
        waiting.remove();
        answer.classList.add("status-partial");
        answer.append(el("p", "notice stopped", text.textContent
          ? "Stopped: the answer so far is kept in this conversation, marked as partial."
          : "Stopped before the first words."));
      }
    } finally {
      answer.removeAttribute("aria-busy");
      running = null;
      stop.hidden = true;
      form.querySelector("button[type=submit]").disabled = false;
    }
  }

  document.addEventListener("submit", function (event) {
    const target = event.target;
    if (!target.matches("[data-chat-form]") || running) return;
    event.preventDefault();
    const body = new FormData(target);
    if (target !== form) {  // "continue": the same conversation and settings, another message
      const main = new FormData(form);
      for (const [name, value] of main.entries()) if (!body.has(name)) body.set(name, value);
    }
    if (!String(body.get("message") || "").trim()) return;
    if (target === form) textarea.value = "";
    const pinned = form.querySelector("select[name=pinned]");
    if (pinned) pinned.value = "";  // a pin holds for one message
    send(body);
  });
  // Sliders: each shows its value; picking a profile sets them all; moving one overrides it.
  const sliders = form.querySelector("fieldset.sliders");
  const profiles = sliders ? JSON.parse(sliders.dataset.profiles) : {};
  const profileSelect = form.querySelector("select[name=profile]");
  function markSliders() {
    const weights = profiles[profileSelect.value] || {};
    let overridden = 0;
    form.querySelectorAll("input[type=range]").forEach(function (input) {
      const box = input.closest(".slider");
      box.querySelector("output").textContent = Number(input.value).toFixed(2);
      const differs = Math.abs(Number(input.value) - (weights[input.name] || 0)) > 1e-9;
      box.classList.toggle("overridden", differs);
      if (differs) overridden += 1;
    });
    const summary = document.getElementById("settings-summary");
    if (summary) summary.textContent = profileSelect.value + (overridden ? ", " + overridden + " slider" + (overridden > 1 ? "s" : "") + " overridden" : "")
      + (cascadeBox && cascadeBox.checked ? ", cheap answer checked first" : "");
  }
  // "Check a cheap answer first": each profile's default on this cohort, until changed.
  const cascadeSetting = form.querySelector(".cascade-setting");
  const cascadeBox = form.querySelector("input[name=cascade]");
  const cascades = cascadeSetting ? JSON.parse(cascadeSetting.dataset.defaults) : {};
  if (profileSelect) {
    profileSelect.addEventListener("change", function () {
      const weights = profiles[profileSelect.value] || {};
      form.querySelectorAll("input[type=range]").forEach(function (input) { input.value = weights[input.name] || 0; });
      if (cascadeBox) cascadeBox.checked = Boolean(cascades[profileSelect.value]);
      markSliders();
    });
    form.addEventListener("input", function (event) { if (event.target.type === "range") markSliders(); });
    if (cascadeBox) cascadeBox.addEventListener("change", markSliders);
  }
  // "Pin" in the preview: that model answers the next message.
  document.addEventListener("click", function (event) {
    const pin = event.target.closest("[data-pin]");
    if (!pin) return;
    const select = form.querySelector("select[name=pinned]");
    select.value = pin.dataset.pin;
    select.dispatchEvent(new Event("change", {bubbles: true}));
  });
  // A refused rating says why in its place (htmx leaves error answers unswapped by default).
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500 && event.detail.target.closest(".rate")) event.detail.shouldSwap = true;
  });
  stop.addEventListener("click", function () { if (running) running.abort(); });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
