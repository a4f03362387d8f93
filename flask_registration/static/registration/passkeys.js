/*
 * Passkeys for flask-registration's pages: no library, no CDN, no build step.
 *
 * WebAuthn's options come from the JSON API as JSON (binary values in base64url); the
 * browser wants ArrayBuffers in and gives ArrayBuffers out. The helpers below convert
 * both ways, and are kept on window.flaskRegistrationPasskeys for other pages.
 *
 * The security page: the "Add a passkey" button asks the API for the options (with the
 * page's CSRF token), lets the authenticator make a passkey, puts its answer in the
 * form's hidden field and posts the form.
 *
 * Every other passkey form (log in, the second factor, sign up, re-authenticate) says
 * what it does in data attributes: data-passkey="get" or "create", data-options-url (the
 * JSON route of the options), data-options-body (JSON sent with it; a "create" form
 * adds its email field), data-conditional (also offer the passkeys in the address
 * field's autofill: WebAuthn's conditional mediation). Its [data-passkey-button] runs
 * the ceremony, [data-passkey-status] tells how it goes, and the answer goes in its
 * hidden "credential" field before the form is posted.
 *
 * What the script says is the page's, in the page's language: each form carries its
 * sentences in data-text-unsupported, data-text-working, data-text-sending,
 * data-text-failed (with {message} for the reason) and data-text-refused. A form
 * without them (an older template of the app's) gets the English ones below.
 */
(function () {
  'use strict'

  function toBuffer (value) {
    var text = value.replace(/-/g, '+').replace(/_/g, '/')
    while (text.length % 4) { text += '=' }
    var bytes = atob(text)
    var buffer = new Uint8Array(bytes.length)
    for (var i = 0; i < bytes.length; i++) { buffer[i] = bytes.charCodeAt(i) }
    return buffer.buffer
  }

  function toBase64url (buffer) {
    var bytes = new Uint8Array(buffer)
    var text = ''
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]) }
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  }

  function descriptors (list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) })
    })
  }

  function creationOptions (json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials)
    })
  }

  function requestOptions (json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials)
    })
  }

  function credentialJSON (credential) {
    var response = credential.response
    var body = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    }
    if (response.attestationObject) {
      body.response.attestationObject = toBase64url(response.attestationObject)
      body.response.transports = response.getTransports ? response.getTransports() : []
    } else {
      body.response.authenticatorData = toBase64url(response.authenticatorData)
      body.response.signature = toBase64url(response.signature)
      if (response.userHandle) { body.response.userHandle = toBase64url(response.userHandle) }
    }
    return body
  }

  async function create (optionsJSON) {
    return credentialJSON(await navigator.credentials.create({ publicKey: creationOptions(optionsJSON) }))
  }

  async function get (optionsJSON, mediation, signal) {
    var request = { publicKey: requestOptions(optionsJSON) }
    if (mediation) { request.mediation = mediation }
    if (signal) { request.signal = signal }
    return credentialJSON(await navigator.credentials.get(request))
  }

  // What a form without data-text-* attributes says: a form that uses a passkey, one
  // that makes one, and the security page's "Add a passkey".
  var USE = {
    unsupported: 'This browser cannot use passkeys.',
    working: 'Follow your browser\'s instructions to use your passkey.',
    sending: 'Checking the passkey.',
    failed: 'That did not work: {message} You can try again.',
    refused: 'The site refused.'
  }
  var MAKE = Object.assign({}, USE, {
    working: 'Follow your browser\'s instructions to make the passkey.',
    sending: 'Saving the passkey.'
  })
  var ADD = Object.assign({}, MAKE, {
    unsupported: 'This browser cannot make passkeys.',
    failed: 'The passkey was not added: {message} You can try again.'
  })

  // One of the form's sentences (data-text-<name>), with {message} filled in.
  function say (form, name, message) {
    var key = 'text' + name.charAt(0).toUpperCase() + name.slice(1)
    var english = form.dataset.passkey === 'get' ? USE : form.dataset.passkey === 'create' ? MAKE : ADD
    var text = form.dataset[key] || english[name]
    return text.replace('{message}', function () { return message || '' })
  }

  function refusalOf (body, fallback) {
    var error = (body && body.error) || {}
    var messages = error.details && error.details.messages
    var text = messages ? Object.keys(messages).map(function (k) { return messages[k].join(' ') }).join(' ') : ''
    var refusal = new Error(text || error.message || fallback)
    refusal.code = error.code
    return refusal
  }

  async function fetchOptions (form, body) {
    var answer = await fetch(form.dataset.optionsUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        'X-CSRFToken': form.querySelector('input[name="csrf_token"]').value
      },
      body: JSON.stringify(body || {})
    })
    var options = await answer.json()
    if (!answer.ok) { throw refusalOf(options, say(form, 'refused')) }
    return options
  }

  window.flaskRegistrationPasskeys = {
    toBuffer: toBuffer, toBase64url: toBase64url, creationOptions: creationOptions,
    requestOptions: requestOptions, credentialJSON: credentialJSON, create: create, get: get,
    fetchOptions: fetchOptions
  }

  function passkeyForm (form) {
    var button = form.querySelector('[data-passkey-button]')
    var status = form.querySelector('[data-passkey-status]')
    var creating = form.dataset.passkey === 'create'
    var conditional = null
    if (!button) { return }
    if (!window.PublicKeyCredential) {
      status.textContent = say(form, 'unsupported')
      button.disabled = true
      return
    }

    function post (answer) {
      form.querySelector('input[name="credential"]').value = JSON.stringify(answer)
      status.textContent = say(form, 'sending')
      HTMLFormElement.prototype.submit.call(form)  // a field named "submit" hides form.submit
    }

    function body () {
      var sent = form.dataset.optionsBody ? JSON.parse(form.dataset.optionsBody) : {}
      var email = form.querySelector('input[name="email"]')
      if (creating && email) { sent.email = email.value }
      return sent
    }

    button.addEventListener('click', async function () {
      if (conditional) { conditional.abort(); conditional = null }
      status.textContent = say(form, 'working')
      button.disabled = true
      try {
        var options = await fetchOptions(form, body())
        post(creating ? await create(options) : await get(options))
      } catch (error) {
        status.textContent = say(form, 'failed', error.message || error.name)
        button.disabled = false
      }
    })

    if (form.dataset.conditional && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(async function (available) {
        if (!available) { return }
        conditional = new AbortController()
        var signal = conditional.signal
        try {
          post(await get(await fetchOptions(form, body()), 'conditional', signal))
        } catch (error) {
          // Aborted (the button was pressed) or dismissed: the button still works.
        }
      }, function () {})
    }
  }

  document.querySelectorAll('form[data-passkey]').forEach(passkeyForm)

  function addPasskey (form) {
    var button = document.getElementById('add-passkey-button')
    var status = document.getElementById('passkey-status')
    if (!window.PublicKeyCredential) {
      status.textContent = say(form, 'unsupported')
      button.disabled = true
      return
    }
    button.addEventListener('click', async function () {
      var token = form.querySelector('input[name="csrf_token"]').value
      status.textContent = say(form, 'working')
      button.disabled = true
      try {
        var answer = await fetch(form.dataset.optionsUrl, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { Accept: 'application/json', 'X-CSRFToken': token }
        })
        var options = await answer.json()
        if (!answer.ok) {
          if (options.error && options.error.code === 'REAUTHENTICATION_REQUIRED') {
            window.location.assign(form.dataset.reauthUrl)
            return
          }
          throw new Error(options.error ? options.error.message : say(form, 'refused'))
        }
        form.querySelector('input[name="credential"]').value = JSON.stringify(await create(options))
        status.textContent = say(form, 'sending')
        HTMLFormElement.prototype.submit.call(form)  // a field named "submit" hides form.submit
      } catch (error) {
        status.textContent = say(form, 'failed', error.message || error.name)
        button.disabled = false
      }
    })
  }

  var form = document.getElementById('add-passkey-form')
  if (form) { addPasskey(form) }
})()
