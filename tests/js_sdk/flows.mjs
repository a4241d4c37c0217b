// The main flows through the official Seam JavaScript SDK (npm `seam`), against a
// pinwarden given by PINWARDEN_ENDPOINT and PINWARDEN_API_KEY.
//
// Driven by tests/api/test_js_sdk.py, whose server runs on a fake clock: when a flow
// needs time to pass (a code becoming `set`), the script asks the test on stdout with a
// line `@@pinwarden <json>` and waits for the one-line JSON answer on stdin. Time only
// moves when asked, so every run sees the same states.
//
// Exits 0 when every assertion held; otherwise prints the failing step and exits 1.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'

import {
  Seam,
  SeamActionAttemptFailedError,
  SeamHttpApiError,
  SeamHttpInvalidInputError,
  SeamHttpUnauthorizedError,
  SeamWebhook,
} from 'seam'

const endpoint = process.env.PINWARDEN_ENDPOINT
const apiKey = process.env.PINWARDEN_API_KEY
assert.ok(endpoint && apiKey, 'PINWARDEN_ENDPOINT and PINWARDEN_API_KEY must be set')
const SINCE = '2024-01-01T00:00:00Z'

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

// One request to the test; resolves with its answer.
const ask = async (request) => {
  process.stdout.write(`@@pinwarden ${JSON.stringify(request)}\n`)
  const { value, done } = await answers.next()
  assert.ok(!done, `the test closed stdin instead of answering ${JSON.stringify(request)}`)
  return JSON.parse(value)
}
const advance = (seconds) => ask({ ask: 'advance', seconds })
const settle = () => ask({ ask: 'settle' })

let current = 'start'
const step = (name) => {
  current = name
  console.log(`step: ${name}`)
}

// Runs `call`, which must fail with an error of class `type`; returns the error.
const rejects = async (call, type) => {
  try {
    await call()
  } catch (error) {
    assert.ok(
      error instanceof type,
      `expected ${type.name}, got ${error?.constructor?.name}: ${error?.message}`,
    )
    return error
  }
  assert.fail(`expected ${type.name}, but the call succeeded`)
}

const seam = new Seam({ apiKey, endpoint })

const main = async () => {
  step('devices.list')
  const devices = await seam.devices.list()
  assert.ok(devices.length > 0, 'the sandbox workspace has devices')
  const august = await seam.devices.list({ device_type: 'august_lock' })
  assert.equal(august.length, 1)
  const deviceId = august[0].device_id
  assert.equal(august[0].device_type, 'august_lock')
  assert.ok(august[0].can_program_online_access_codes)
  const got = await seam.devices.get({ device_id: deviceId })
  assert.equal(got.device_id, deviceId)

  step('webhooks.create')
  const { url: hookUrl } = await ask({ ask: 'webhook_url' })
  const webhook = await seam.webhooks.create({
    url: hookUrl,
    event_types: ['access_code.set_on_device'],
  })
  assert.ok(webhook.webhook_id)
  assert.equal(webhook.url, hookUrl)
  assert.match(webhook.secret, /^whsec_/)
  assert.deepEqual(webhook.event_types, ['access_code.set_on_device'])

  step('access_codes.create (ongoing)')
  const ongoing = await seam.accessCodes.create({
    device_id: deviceId,
    name: 'my ongoing code',
    code: '1234',
  })
  assert.equal(ongoing.type, 'ongoing')
  assert.equal(ongoing.code, '1234')
  assert.equal(ongoing.status, 'setting')
  assert.equal(ongoing.is_managed, true)
  assert.deepEqual(ongoing.errors, [])

  step('access_codes.get (set after the lock latency)')
  await advance(1)
  const set = await seam.accessCodes.get({ access_code_id: ongoing.access_code_id })
  assert.equal(set.status, 'set')
  assert.equal(set.name, 'my ongoing code')

  step('webhook delivery verifies with the SDK\'s SeamWebhook')
  const { requests } = await ask({ ask: 'webhook_requests' })
  assert.equal(requests.length, 1, 'one delivery: the filter keeps only set_on_device')
  const delivered = new SeamWebhook(webhook.secret).verify(
    requests[0].body,
    requests[0].headers,
  )
  assert.equal(delivered.event_type, 'access_code.set_on_device')
  assert.equal(delivered.access_code_id, ongoing.access_code_id)
  assert.throws(() =>
    new SeamWebhook(webhook.secret).verify(`${requests[0].body} `, requests[0].headers),
  )

  step('access_codes.create (time-bound)')
  const guest = await seam.accessCodes.create({
    device_id: deviceId,
    name: 'my time-bound code',
    code: '2345',
    starts_at: '2025-01-01T16:00:00Z',
    ends_at: '2025-01-22T12:00:00Z',
  })
  assert.equal(guest.type, 'time_bound')
  assert.equal(guest.status, 'unset')
  assert.equal(guest.starts_at, '2025-01-01T16:00:00.000Z')
  assert.equal(guest.ends_at, '2025-01-22T12:00:00.000Z')

  step('access_codes.list')
  const listed = await seam.accessCodes.list({ device_id: deviceId })
  assert.deepEqual(
    listed.map((c) => c.access_code_id).sort(),
    [ongoing.access_code_id, guest.access_code_id].sort(),
  )
  const byId = await seam.accessCodes.list({ access_code_ids: [guest.access_code_id] })
  assert.deepEqual(byId.map((c) => c.name), ['my time-bound code'])
  assert.deepEqual(await seam.accessCodes.list({ access_code_ids: [] }), [])

  step('access_codes.update')
  await seam.accessCodes.update({ access_code_id: guest.access_code_id, type: 'ongoing' })
  const updated = await seam.accessCodes.get({ access_code_id: guest.access_code_id })
  assert.equal(updated.type, 'ongoing')
  assert.equal(updated.starts_at ?? null, null)
  await seam.accessCodes.update({ access_code_id: guest.access_code_id, name: 'renamed' })
  assert.equal(
    (await seam.accessCodes.get({ access_code_id: guest.access_code_id })).name,
    'renamed',
  )

  step('access_codes.delete')
  await seam.accessCodes.delete({ access_code_id: ongoing.access_code_id })
  await advance(1)
  const gone = await rejects(
    () => seam.accessCodes.get({ access_code_id: ongoing.access_code_id }),
    SeamHttpApiError,
  )
  assert.equal(gone.code, 'access_code_not_found')
  assert.equal(gone.statusCode, 404)
  assert.ok(gone.requestId, 'the error carries the seam-request-id header')

  step('access_codes.createMultiple')
  const yale = (await seam.devices.list({ device_type: 'yale_lock' }))[0].device_id
  const schlage = (await seam.devices.list({ device_type: 'schlage_lock' }))[0].device_id
  const group = await seam.accessCodes.createMultiple({
    device_ids: [yale, schlage],
    name: 'Stay',
  })
  assert.equal(group.length, 2)
  assert.deepEqual(group.map((c) => c.device_id).sort(), [yale, schlage].sort())
  assert.equal(group[0].common_code_key, group[1].common_code_key)
  assert.ok(group[0].common_code_key, 'the codes of one call share a common_code_key')
  assert.equal(group[0].code, group[1].code)

  step('locks.unlockDoor / lockDoor (the SDK waits for the action attempt)')
  const unlocked = await seam.locks.unlockDoor({ device_id: yale })
  assert.equal(unlocked.action_type, 'UNLOCK_DOOR')
  assert.equal(unlocked.status, 'success')
  assert.equal((await seam.locks.get({ device_id: yale })).properties.locked, false)
  const locked = await seam.locks.lockDoor({ device_id: yale })
  assert.equal(locked.action_type, 'LOCK_DOOR')
  assert.equal(locked.status, 'success')
  assert.equal((await seam.devices.get({ device_id: yale })).properties.locked, true)
  const attempt = await seam.actionAttempts.get({
    action_attempt_id: locked.action_attempt_id,
  })
  assert.equal(attempt.status, 'success')
  const pending = await seam.locks.lockDoor({ device_id: yale }, { waitForActionAttempt: false })
  assert.equal(pending.status, 'pending')

  step('locks.unlockDoor on an offline lock: SeamActionAttemptFailedError')
  await seam.devices.simulate.disconnect({ device_id: schlage })
  await settle()
  const failed = await rejects(
    () => seam.locks.unlockDoor({ device_id: schlage }),
    SeamActionAttemptFailedError,
  )
  assert.equal(failed.code, 'device_offline')
  assert.equal(failed.actionAttempt.action_type, 'UNLOCK_DOOR')

  step('events.list')
  await settle()
  const events = await seam.events.list({ since: SINCE })
  const types = events.map((e) => e.event_type)
  for (const type of [
    'access_code.created',
    'access_code.set_on_device',
    'access_code.deleted',
    'lock.unlocked',
    'lock.locked',
    'device.disconnected',
  ]) {
    assert.ok(types.includes(type), `events.list has ${type}: ${types}`)
  }
  const ofCode = await seam.events.list({ access_code_id: ongoing.access_code_id, since: SINCE })
  assert.deepEqual(
    ofCode.map((e) => e.event_type),
    [
      'access_code.created',
      'access_code.set_on_device',
      'access_code.deleted',
      'access_code.removed_from_device',
    ],
  )
  const lockEvents = await seam.events.list({
    device_id: yale,
    event_types: ['lock.locked', 'lock.unlocked'],
    since: SINCE,
  })
  assert.deepEqual(
    lockEvents.map((e) => [e.event_type, e.action_attempt_id]),
    [
      ['lock.unlocked', unlocked.action_attempt_id],
      ['lock.locked', locked.action_attempt_id],
      ['lock.locked', pending.action_attempt_id],
    ],
  )
  const one = await seam.events.get({ event_id: events[0].event_id })
  assert.equal(one.event_id, events[0].event_id)

  step('createPaginator over devices.list and accessCodes.list')
  const pages = []
  for await (const page of seam.createPaginator(seam.devices.list({ limit: 2 }))) {
    pages.push(page.length)
  }
  assert.ok(pages.length > 1 && pages.every((n) => n <= 2), `pages of at most 2: ${pages}`)
  const allDevices = await seam.createPaginator(seam.devices.list({ limit: 2 })).flattenToArray()
  assert.deepEqual(
    allDevices.map((d) => d.device_id).sort(),
    devices.map((d) => d.device_id).sort(),
  )
  await seam.accessCodes.create({ device_id: yale, name: 'second', code: '5678' })
  const yaleCodes = await seam
    .createPaginator(seam.accessCodes.list({ device_id: yale, limit: 1 }))
    .flattenToArray()
  assert.deepEqual(yaleCodes.map((c) => c.name).sort(), ['Stay', 'second'])

  step('other reads: workspaces, connected accounts, locks, unmanaged codes, action attempts')
  const workspace = await seam.workspaces.get()
  assert.equal(workspace.is_sandbox, true)
  const accounts = await seam.connectedAccounts.list()
  assert.ok(accounts.length > 0)
  assert.equal(
    (await seam.connectedAccounts.get({ connected_account_id: accounts[0].connected_account_id }))
      .connected_account_id,
    accounts[0].connected_account_id,
  )
  const locks = await seam.locks.list()
  assert.ok(locks.some((l) => l.device_id === yale))
  assert.ok(Array.isArray(await seam.accessCodes.unmanaged.list({ device_id: deviceId })))
  const attempts = await seam.actionAttempts.list({
    action_attempt_ids: [locked.action_attempt_id, unlocked.action_attempt_id],
  })
  assert.deepEqual(
    attempts.map((a) => a.action_attempt_id).sort(),
    [locked.action_attempt_id, unlocked.action_attempt_id].sort(),
  )
  const generated = await seam.accessCodes.generateCode({ device_id: deviceId })
  assert.match(generated.code, /^[0-9]+$/)
  await settle()
  assert.deepEqual(
    (await seam.events.list({ between: [SINCE, '2030-01-01T00:00:00Z'] })).map((e) => e.event_id),
    (await seam.events.list({ since: SINCE })).map((e) => e.event_id),
  )

  step('webhooks.list / get / update / delete')
  assert.deepEqual(
    (await seam.webhooks.list()).map((w) => w.webhook_id),
    [webhook.webhook_id],
  )
  const hook = await seam.webhooks.get({ webhook_id: webhook.webhook_id })
  assert.equal(hook.url, hookUrl)
  await seam.webhooks.update({
    webhook_id: webhook.webhook_id,
    event_types: ['lock.locked', 'lock.unlocked'],
  })
  assert.deepEqual(
    (await seam.webhooks.get({ webhook_id: webhook.webhook_id })).event_types,
    ['lock.locked', 'lock.unlocked'],
  )
  await seam.webhooks.delete({ webhook_id: webhook.webhook_id })
  assert.deepEqual(await seam.webhooks.list(), [])
  const noHook = await rejects(
    () => seam.webhooks.get({ webhook_id: webhook.webhook_id }),
    SeamHttpApiError,
  )
  assert.equal(noHook.statusCode, 404)

  step('bad requests surface as the SDK\'s typed errors')
  const invalid = await rejects(
    () => seam.accessCodes.create({ device_id: deviceId, code: '12' }),
    SeamHttpInvalidInputError,
  )
  assert.equal(invalid.code, 'invalid_input')
  assert.equal(invalid.statusCode, 400)
  assert.ok(invalid.getValidationErrorMessages('code').length > 0, JSON.stringify(invalid))
  const missing = await rejects(
    () => seam.accessCodes.create({ device_id: randomUUID(), code: '4321' }),
    SeamHttpApiError,
  )
  assert.equal(missing.code, 'device_not_found')
  assert.equal(missing.statusCode, 404)
  await rejects(
    () => new Seam({ apiKey: 'seam_test_wrong', endpoint }).devices.list(),
    SeamHttpUnauthorizedError,
  )
}

try {
  await main()
  console.log('all JS SDK flows passed')
  process.exit(0)
} catch (error) {
  console.error(`FAILED at step "${current}":`)
  console.error(error?.stack ?? error)
  if (error?.data != null) console.error(JSON.stringify(error.data))
  process.exit(1)
}
