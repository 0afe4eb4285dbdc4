// Passkeys in the browser: sign in (autofill and a button), the second
// factor, and adding a passkey on the account page. WebAuthn options come
// from the server as JSON with base64url strings where the browser wants
// bytes; the answers go back the same way.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
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

  function registration(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      extensions: {},
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      }
    };
  }

  function assertion(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      extensions: {},
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      }
    };
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (json) {
        if (!resp.ok) {
          var e = new Error(json.message || ("The server answered " + resp.status + "."));
          e.code = json.error;
          throw e;
        }
        return json;
      });
    });
  }

  function showError(box, err) {
    if (!box) {
      return;
    }
    var msg = err && err.message ? err.message : "The passkey could not be used.";
    if (err && err.name === "NotAllowedError") {
      msg = "The passkey request was cancelled or timed out.";
    }
    msg = msg.charAt(0).toUpperCase() + msg.slice(1);
    box.textContent = /[.!?]$/.test(msg) ? msg : msg + ".";
    box.hidden = false;
  }

  function carried(el) {
    var body = { csrf: el.dataset.csrf || null, return_to: el.dataset.returnTo || null };
    if (el.dataset.applicationId) {
      body.applicationId = el.dataset.applicationId;
    }
    return body;
  }

  function finish(path, el, ceremony, credential) {
    var body = carried(el);
    body.ceremony = ceremony;
    body.credential = assertion(credential);
    return post(path, body).then(function (done) {
      window.location.assign(done.redirect || "/account");
    });
  }

  // The login page: passwordless sign-in.
  var login = document.querySelector("[data-passkey-login]");
  if (login) {
    var button = document.getElementById("passkey-login");
    var box = document.getElementById("passkey-error");
    var pending = null;

    var signIn = function (conditional) {
      if (pending) {
        pending.abort();
      }
      var ctl = new AbortController();
      pending = ctl;
      return post("/auth/passkey/start", { csrf: login.dataset.csrf }).then(function (start) {
        var opts = { publicKey: requestOptions(start.options.publicKey), signal: ctl.signal };
        if (conditional) {
          opts.mediation = "conditional";
        }
        return navigator.credentials.get(opts).then(function (c) {
          return finish("/auth/passkey/finish", login, start.ceremony, c);
        });
      });
    };

    button.hidden = false;
    button.addEventListener("click", function () {
      box.hidden = true;
      signIn(false).catch(function (e) {
        if (e.name !== "AbortError") {
          showError(box, e);
        }
      });
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
        if (yes) {
          signIn(true).catch(function (e) {
            if (e.name !== "AbortError" && e.name !== "NotAllowedError") {
              showError(box, e);
            }
          });
        }
      });
    }
  }

  // The second factor after the password.
  var mfa = document.querySelector("[data-passkey-mfa]");
  if (mfa) {
    var mfaButton = document.getElementById("passkey-mfa");
    var mfaBox = document.getElementById("passkey-error");
    mfaButton.hidden = false;
    mfaButton.addEventListener("click", function () {
      mfaBox.hidden = true;
      mfaButton.disabled = true;
      post("/auth/passkey/mfa/start", { csrf: mfa.dataset.csrf }).then(function (start) {
        return navigator.credentials.get({ publicKey: requestOptions(start.options.publicKey) })
          .then(function (c) {
            return finish("/auth/passkey/mfa/finish", mfa, start.ceremony, c);
          });
      }).catch(function (e) {
        mfaButton.disabled = false;
        showError(mfaBox, e);
      });
    });
  }

  // The account page: add a passkey.
  var add = document.querySelector("form[data-passkey-add]");
  if (add) {
    var addBox = document.getElementById("passkey-error");
    var addButton = add.querySelector("button");
    add.hidden = false;
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      addBox.hidden = true;
      addButton.disabled = true;
      var csrf = add.dataset.csrf;
      var name = add.querySelector("input[name=name]").value;
      post("/account/passkeys/register/start", { csrf: csrf, name: name }).then(function (start) {
        return navigator.credentials.create({ publicKey: creationOptions(start.options.publicKey) })
          .then(function (c) {
            return post("/account/passkeys/register/finish", {
              csrf: csrf,
              ceremony: start.ceremony,
              credential: registration(c)
            });
          });
      }).then(function () {
        window.location.assign("/account/passkeys?done=added");
      }).catch(function (e) {
        addButton.disabled = false;
        if (e.code === "reauthentication_required" && add.dataset.reauth) {
          window.location.assign(add.dataset.reauth);
          return;
        }
        showError(addBox, e);
      });
    });
  }
})();
