// berth UI enhancements: copy buttons and search-as-you-type. Every page
// works without this script.
"use strict";
(function () {
  function copied(btn) {
    var old = btn.textContent;
    btn.textContent = document.documentElement.lang === "zh-CN" ? "已复制" : "Copied";
    btn.setAttribute("data-copied", "true");
    setTimeout(function () { btn.textContent = old; }, 2000);
  }
  function copyText(btn, text, input) {
    var fallback = function () {
      if (input) { input.focus(); input.select(); }
      try { document.execCommand("copy"); } catch (e) { /* selected for the user to copy */ }
      copied(btn);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(btn); }, fallback);
    } else {
      fallback();
    }
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-copy],button[data-copy-text]");
    if (!btn) { return; }
    var input = btn.hasAttribute("data-copy") ? document.getElementById(btn.getAttribute("data-copy")) : null;
    copyText(btn, input ? input.value : btn.getAttribute("data-copy-text"), input);
  });

  var q = document.querySelector("input[data-suggest]");
  if (!q) { return; }
  var box = document.getElementById(q.getAttribute("data-suggest"));
  var timer = null, seq = 0;
  function show(items) {
    box.textContent = "";
    items.slice(0, 10).forEach(function (it) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = it.href; a.textContent = it.text; li.appendChild(a); box.appendChild(li);
    });
    box.hidden = items.length === 0;
  }
  function repoHref(name) {
    var i = name.indexOf("/");
    return "/projects/" + encodeURIComponent(name.slice(0, i)) + "/repositories/" + name.slice(i + 1);
  }
  q.addEventListener("input", function () {
    clearTimeout(timer);
    var v = q.value.trim();
    if (v.length < 2) { show([]); return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch("/api/v2.0/search?q=" + encodeURIComponent(v), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { project: [], repository: [] }; })
        .then(function (res) {
          if (mine !== seq) { return; }
          var items = (res.project || []).map(function (p) { return { text: p.name, href: "/projects/" + encodeURIComponent(p.name) }; })
            .concat((res.repository || []).map(function (r) { return { text: r.repository_name, href: repoHref(r.repository_name) }; }));
          show(items);
        })
        .catch(function () { show([]); });
    }, 200);
  });
  q.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { show([]); } });
})();
