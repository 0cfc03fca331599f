// latchkey's one script: the WebAuthn ceremonies of /account/passkeys and
// the login pages. A form marked data-passkey="register" or "authenticate"
// is shown only where the WebAuthn API exists; on submit the script asks
// the form's data-options URL for the ceremony's options (with the form's
// CSRF token), runs navigator.credentials.create or .get, puts the result
// in the form's `credential` field and posts the form as usual.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  function toBytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return pk;
  }
  function requestOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return pk;
  }
  function registered(cred) {
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(cred.response.attestationObject),
        clientDataJSON: toB64url(cred.response.clientDataJSON)
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }
  function asserted(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }
  function fail(form) {
    var error = document.getElementById(form.getAttribute("data-error"));
    if (error) { error.hidden = false; }
    form.removeAttribute("data-busy");
  }
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (el) {
    el.hidden = true;
  });
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.getAttribute("data-busy")) { return; }
      form.setAttribute("data-busy", "1");
      var body = new URLSearchParams();
      body.set("csrf_token", form.elements.csrf_token.value);
      if (form.elements.request) { body.set("request", form.elements.request.value); }
      if (form.elements.challenge) { body.set("challenge", form.elements.challenge.value); }
      var register = form.getAttribute("data-passkey") === "register";
      fetch(form.getAttribute("data-options"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString()
      })
        .then(function (resp) {
          if (!resp.ok) { throw new Error("options: " + resp.status); }
          return resp.json();
        })
        .then(function (started) {
          form.elements.ceremony.value = started.ceremony;
          var pk = started.options.publicKey;
          return register
            ? navigator.credentials.create({ publicKey: creationOptions(pk) })
            : navigator.credentials.get({ publicKey: requestOptions(pk) });
        })
        .then(function (cred) {
          if (!cred) { throw new Error("no credential"); }
          form.elements.credential.value = JSON.stringify(register ? registered(cred) : asserted(cred));
          HTMLFormElement.prototype.submit.call(form);
        })
        .catch(function () { fail(form); });
    });
  });
})();
