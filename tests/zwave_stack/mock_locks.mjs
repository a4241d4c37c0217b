// Test-only: a zwave-js mock Z-Wave controller with mock door locks, reachable as a
// serial port over TCP (for `zwave-server tcp://127.0.0.1:PORT`), plus a small JSON
// control API over HTTP so tests can read and drive the locks' own memory.
//
//   node mock_locks.mjs CONFIG.json
//
// CONFIG.json: {
//   "serialPort": 5555,        // TCP port the Z-Wave serial protocol is served on
//   "controlPort": 5556,       // HTTP control API
//   "nodes": [{"id": 2, "numUsers": 30, "userCodeVersion": 2,
//              "codes": {"3": "4321"}, "battery": 90}]
// }
//
// Why not zwave-js's own MockServer: it hands each TCP chunk to the mock controller as
// one serial frame. TCP merges writes (an ACK and the next frame arrive in one chunk
// about half of the time), the controller then sees "0x06 0x01 …", throws "does not start
// with SOF" and the whole mock dies. Here the byte stream is re-framed first (single
// ACK/NAK/CAN bytes; SOF+LEN frames) and each frame is written to the mock serial port
// on its own. MockServer also advertises over mDNS and binds every interface; this binds
// 127.0.0.1 and advertises nothing.
//
// Ports may be 0; the line "MOCK_READY {serialPort, controlPort, nodes}" on stdout, once
// both listen, tells the ports taken.
//
// Control API (127.0.0.1:controlPort, JSON bodies; every node route answers the node's
// state after the operation, or {"error": "..."} with 400/404/405/409/500):
//   GET  /health                       {"ok": true, "nodes": [2, 3]}
//   GET  /nodes/:id                    {"nodeId", "mode", "locked", "doorMode" (0|255),
//                                       "battery", "numUsers",
//                                       "codes": {"<slot>": {"status": "Enabled", "code"}}}
//                                      (only occupied slots; from the lock's own memory)
//   POST /nodes/:id/reset              {"codes"?: {"<slot>": "PIN"}}: memory = codes,
//                                      door locked, mode alive, battery as declared
//   POST /nodes/:id/mode               {"mode": "alive"|"dead"|"silent"|"masked"}
//   POST /nodes/:id/battery            {"level": 0-100} (answered on the next Battery Get)
//   POST /nodes/:id/keypad-unlock      {"slot"}: Access Control event 6 (userId) + door
//                                      unsecured (Door Lock Operation Report)
//   POST /nodes/:id/keypad-lock        {"slot"?}: event 5 (+userId) + door secured
//   POST /nodes/:id/manual-lock        {}: event 1 + door secured
//   POST /nodes/:id/manual-unlock      {}: event 2 + door unsecured
//   POST /nodes/:id/program-code       {"slot", "code"}: memory written, event 0x0E (userId)
//   POST /nodes/:id/delete-code        {"slot"}: memory cleared, event 0x0D (userId)
// Reports the lock sends are refused (409) while the node is dead.

import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
// Transitive dependencies of zwave-js (npm hoists them); the public MockServer uses
// exactly these, and they are pinned through package-lock.json.
import { Faucet, ZWaveSerialFrameType } from "@zwave-js/serial";
import { createAndOpenMockedZWaveSerialPort } from "@zwave-js/serial/mock";
import {
	MockController,
	MockNode,
	ccCaps,
	createMockZWaveRequestFrame,
} from "@zwave-js/testing";
import {
	BatteryCCGet,
	BatteryCCReport,
	DoorLockCCOperationReport,
	DoorLockMode,
	NotificationCCGet,
	NotificationCCReport,
	UserCodeCCExtendedUserCodeSet,
	UserCodeCCGet,
	UserCodeCCReport,
	UserCodeCCSet,
	UserIDStatus,
} from "zwave-js";
import {
	createDefaultMockControllerBehaviors,
	createDefaultMockNodeBehaviors,
} from "zwave-js/Testing";

// Command class ids (numbers, so nothing else has to be imported from @zwave-js/core).
const CC = {
	Battery: 0x80,
	DoorLock: 0x62,
	ManufacturerSpecific: 0x72,
	Notification: 0x71,
	UserCode: 0x63,
	Version: 0x86,
};
const SOF = 0x01;
const ACK = 0x06;
const NAK = 0x15;
const CAN = 0x18;

// Access Control (notification type 6) events, as zwave-js's notification registry
// (@zwave-js/core registries/Notifications) names them.
const ACCESS_CONTROL = 0x06;
const EV = {
	manualLock: 0x01,
	manualUnlock: 0x02,
	keypadLock: 0x05,
	keypadUnlock: 0x06,
	allCodesDeleted: 0x0c,
	codeDeleted: 0x0d,
	codeAdded: 0x0e,
};

// The mock's own User Code behaviours keep a lock's memory in node.state under these
// keys (zwave-js lib/node/mockCCBehaviors/UserCode.js); that Map is the source of truth.
const codeKey = (slot) => `UserCode_userCode_${slot}`;
const statusKey = (slot) => `UserCode_userIdStatus_${slot}`;
const DOOR_MODE_KEY = "DoorLock_currentMode";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));

/** Per node: mode ("alive" | "dead" | "silent" | "masked"), battery level, numUsers. */
const extra = new Map();

function codeToString(code) {
	if (code == undefined) return "";
	if (typeof code === "string") return code;
	return Buffer.from(code).toString("latin1");
}

function clearMemory(node) {
	const { numUsers } = extra.get(node.id);
	for (let slot = 1; slot <= numUsers; slot++) {
		node.state.set(statusKey(slot), UserIDStatus.Available);
		node.state.set(codeKey(slot), undefined);
	}
}

function writeCode(node, slot, code) {
	node.state.set(statusKey(slot), UserIDStatus.Enabled);
	node.state.set(codeKey(slot), code);
}

function resetNode(node, codes = {}) {
	const e = extra.get(node.id);
	e.mode = "alive";
	e.battery = e.initialBattery;
	node.autoAckControllerFrames = true;
	clearMemory(node);
	for (const [slot, code] of Object.entries(codes)) writeCode(node, Number(slot), code);
	node.state.delete("DoorLock_transition");
	node.state.set(DOOR_MODE_KEY, DoorLockMode.Secured);
}

function nodeState(node) {
	const e = extra.get(node.id);
	const codes = {};
	for (let slot = 1; slot <= e.numUsers; slot++) {
		const status = node.state.get(statusKey(slot)) ?? UserIDStatus.Available;
		if (status === UserIDStatus.Available) continue;
		codes[slot] = {
			status: UserIDStatus[status] ?? status,
			code: codeToString(node.state.get(codeKey(slot))),
		};
	}
	const mode = node.state.get(DOOR_MODE_KEY) ?? DoorLockMode.Unsecured;
	return {
		nodeId: node.id,
		mode: e.mode,
		locked: mode === DoorLockMode.Secured,
		doorMode: mode,
		battery: e.battery,
		numUsers: e.numUsers,
		codes,
	};
}

/** Behaviours in front of the stock ones: they model dead/silent/masked locks and Battery. */
function lockBehaviors() {
	return [
		{
			// A dead node hears nothing: no ACK (autoAckControllerFrames is off) and no answer.
			handleCC(_controller, self) {
				if (extra.get(self.id).mode === "dead") return { action: "stop" };
				return undefined;
			},
		},
		{
			// "silent": the radio ACKs the User Code Set (v2 locks: Extended User Code
			// Set) but the lock never stores it.
			handleCC(_controller, self, cc) {
				const isSet = cc instanceof UserCodeCCSet || cc instanceof UserCodeCCExtendedUserCodeSet;
				if (isSet && extra.get(self.id).mode === "silent") {
					return { action: "ok" };
				}
				return undefined;
			},
		},
		{
			// "masked": like Schlage locks, report occupied slots with the PIN as asterisks
			// (User Code Get, as zwave-js asks a v1 lock).
			handleCC(controller, self, cc) {
				if (!(cc instanceof UserCodeCCGet) || extra.get(self.id).mode !== "masked") {
					return undefined;
				}
				const status = self.state.get(statusKey(cc.userId)) ?? UserIDStatus.Available;
				const code = codeToString(self.state.get(codeKey(cc.userId)));
				const report = new UserCodeCCReport({
					nodeId: controller.ownNodeId,
					userId: cc.userId,
					userIdStatus: status,
					userCode: status === UserIDStatus.Available ? undefined : "*".repeat(code.length),
				});
				return { action: "sendCC", cc: report };
			},
		},
		{
			// The stock mock leaves Notification Get unanswered, so each interview waited
			// out a 1 s timeout: answer "nothing pending" (event 0) like an idle lock.
			handleCC(controller, _self, cc) {
				if (!(cc instanceof NotificationCCGet)) return undefined;
				const report = new NotificationCCReport({
					nodeId: controller.ownNodeId,
					notificationType: cc.notificationType ?? ACCESS_CONTROL,
					notificationEvent: 0x00,
				});
				return { action: "sendCC", cc: report };
			},
		},
		{
			// zwave-js ships no Battery CC mock behaviour.
			handleCC(controller, self, cc) {
				if (!(cc instanceof BatteryCCGet)) return undefined;
				const report = new BatteryCCReport({
					nodeId: controller.ownNodeId,
					level: extra.get(self.id).battery,
				});
				return { action: "sendCC", cc: report };
			},
		},
	];
}

async function createLock(controller, spec) {
	const numUsers = spec.numUsers ?? 30;
	const node = await MockNode.create({
		id: spec.id,
		controller,
		capabilities: {
			isListening: true,
			// Entry Control / Door Lock: generic 0x40, specific 0x03 (Secure Keypad Door Lock).
			genericDeviceClass: 0x40,
			specificDeviceClass: 0x03,
			manufacturerId: 0x0000,
			productType: 0x0001,
			productId: 0x0001,
			commandClasses: [
				ccCaps({ ccId: CC.Version, isSupported: true, version: 3 }),
				ccCaps({ ccId: CC.ManufacturerSpecific, isSupported: true, version: 2 }),
				ccCaps({
					ccId: CC.UserCode,
					isSupported: true,
					version: spec.userCodeVersion ?? 1,
					numUsers,
					supportedASCIIChars: "0123456789",
				}),
				ccCaps({ ccId: CC.DoorLock, isSupported: true, version: 4 }),
				ccCaps({
					ccId: CC.Notification,
					isSupported: true,
					version: 8,
					notificationTypesAndEvents: {
						[ACCESS_CONTROL]: [
							EV.manualLock,
							EV.manualUnlock,
							0x03,
							0x04,
							EV.keypadLock,
							EV.keypadUnlock,
							0x0b,
							EV.allCodesDeleted,
							EV.codeDeleted,
							EV.codeAdded,
						],
					},
				}),
				ccCaps({ ccId: CC.Battery, isSupported: true, version: 1 }),
			],
		},
	});
	const battery = spec.battery ?? 90;
	extra.set(node.id, { mode: "alive", numUsers, battery, initialBattery: battery });
	controller.addNode(node);
	node.defineBehavior(...createDefaultMockNodeBehaviors());
	// defineBehavior puts later behaviours first, so these take precedence.
	node.defineBehavior(...lockBehaviors());
	resetNode(node, spec.codes ?? {});
	return node;
}

/** Unsolicited frame from a lock to the controller, as a real lock sends it. */
async function sendFromNode(node, cc) {
	if (extra.get(node.id).mode === "dead") {
		throw new HttpError(409, `node ${node.id} is dead`);
	}
	await node.sendToController(createMockZWaveRequestFrame(cc, { ackRequested: true }));
}

async function reportDoor(controller, node, mode) {
	node.state.delete("DoorLock_transition");
	node.state.set(DOOR_MODE_KEY, mode);
	await sendFromNode(
		node,
		new DoorLockCCOperationReport({
			nodeId: controller.ownNodeId,
			currentMode: mode,
			targetMode: mode,
			outsideHandlesCanOpenDoor: [true, true, true, true],
			insideHandlesCanOpenDoor: [true, true, true, true],
		}),
	);
}

async function notify(controller, node, event, userId) {
	await sendFromNode(
		node,
		new NotificationCCReport({
			nodeId: controller.ownNodeId,
			notificationType: ACCESS_CONTROL,
			notificationEvent: event,
			// One byte, the user id: what many locks send, and what zwave-js decodes as
			// eventParameters {userId} for events 5/6/0x0d/0x0e/0x0f.
			eventParameters: userId == undefined ? undefined : Uint8Array.from([userId]),
		}),
	);
}

class HttpError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

function slotOf(node, body) {
	const slot = Number(body.slot);
	const { numUsers } = extra.get(node.id);
	if (!Number.isInteger(slot) || slot < 1 || slot > numUsers) {
		throw new HttpError(400, `slot must be 1..${numUsers}`);
	}
	return slot;
}

const MODES = new Set(["alive", "dead", "silent", "masked"]);

/** The control API: (node, body) -> JSON answer; every answer is the node's new state. */
function operations(controller) {
	return {
		state: async () => {},
		reset: async (node, body) => resetNode(node, body.codes ?? {}),
		mode: async (node, body) => {
			if (!MODES.has(body.mode)) throw new HttpError(400, `mode must be one of ${[...MODES]}`);
			extra.get(node.id).mode = body.mode;
			node.autoAckControllerFrames = body.mode !== "dead";
		},
		battery: async (node, body) => {
			extra.get(node.id).battery = Number(body.level);
		},
		"keypad-unlock": async (node, body) => {
			const slot = slotOf(node, body);
			await notify(controller, node, EV.keypadUnlock, slot);
			await reportDoor(controller, node, DoorLockMode.Unsecured);
		},
		"keypad-lock": async (node, body) => {
			const slot = body.slot == undefined ? undefined : slotOf(node, body);
			await notify(controller, node, EV.keypadLock, slot);
			await reportDoor(controller, node, DoorLockMode.Secured);
		},
		"manual-lock": async (node) => {
			await notify(controller, node, EV.manualLock);
			await reportDoor(controller, node, DoorLockMode.Secured);
		},
		"manual-unlock": async (node) => {
			await notify(controller, node, EV.manualUnlock);
			await reportDoor(controller, node, DoorLockMode.Unsecured);
		},
		"program-code": async (node, body) => {
			const slot = slotOf(node, body);
			const code = String(body.code ?? "");
			if (!/^[0-9]{4,10}$/.test(code)) throw new HttpError(400, "code must be 4-10 digits");
			writeCode(node, slot, code);
			await notify(controller, node, EV.codeAdded, slot);
		},
		"delete-code": async (node, body) => {
			const slot = slotOf(node, body);
			node.state.set(statusKey(slot), UserIDStatus.Available);
			node.state.set(codeKey(slot), undefined);
			await notify(controller, node, EV.codeDeleted, slot);
		},
	};
}

function startControlServer(controller, nodes, port) {
	const ops = operations(controller);
	const server = createHttpServer(async (req, res) => {
		const answer = (status, body) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(JSON.stringify(body));
		};
		try {
			const chunks = [];
			for await (const chunk of req) chunks.push(chunk);
			const raw = Buffer.concat(chunks).toString("utf8");
			const body = raw ? JSON.parse(raw) : {};
			const url = new URL(req.url, "http://localhost");
			const parts = url.pathname.split("/").filter(Boolean);
			if (parts.length === 1 && parts[0] === "health") {
				return answer(200, { ok: true, nodes: [...nodes.keys()] });
			}
			if (parts[0] !== "nodes" || parts.length < 2 || parts.length > 3) {
				throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
			}
			const node = nodes.get(Number(parts[1]));
			if (!node) throw new HttpError(404, `no mock node ${parts[1]}`);
			const op = parts[2] ?? "state";
			if (!(op in ops)) throw new HttpError(404, `no operation ${op}`);
			if ((op === "state") !== (req.method === "GET")) {
				throw new HttpError(405, `${op} wants ${op === "state" ? "GET" : "POST"}`);
			}
			await ops[op](node, body);
			return answer(200, nodeState(node));
		} catch (e) {
			const status = e instanceof HttpError ? e.status : e instanceof SyntaxError ? 400 : 500;
			if (status === 500) console.error("control request failed", e);
			return answer(status, { error: String(e?.message ?? e) });
		}
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen({ host: "127.0.0.1", port }, () => resolve(server));
	});
}

/** Splits a TCP byte stream into serial frames; returns [frames, rest]. */
function reframe(buffer) {
	const frames = [];
	let offset = 0;
	while (offset < buffer.length) {
		const head = buffer[offset];
		if (head === ACK || head === NAK || head === CAN) {
			frames.push(buffer.subarray(offset, offset + 1));
			offset += 1;
		} else if (head === SOF) {
			if (buffer.length - offset < 2) break;
			// LEN counts the bytes after itself, checksum included.
			const total = buffer[offset + 1] + 2;
			if (buffer.length - offset < total) break;
			frames.push(buffer.subarray(offset, offset + total));
			offset += total;
		} else {
			// Line noise; a real controller drops it too, and the host will retransmit.
			console.error(`dropping stray byte 0x${head.toString(16)}`);
			offset += 1;
		}
	}
	return [frames, buffer.subarray(offset)];
}

function startSerialServer(serial, port) {
	const faucet = new Faucet(serial.readable);
	const server = createTcpServer((socket) => {
		console.log("serial client connected");
		socket.setNoDelay(true);
		const writable = new WritableStream({
			write: (chunk) => {
				if (chunk.type !== ZWaveSerialFrameType.SerialAPI) return;
				socket.write(typeof chunk.data === "number" ? Uint8Array.from([chunk.data]) : chunk.data);
			},
		});
		faucet.connect(writable);
		let pending = Buffer.alloc(0);
		let merged = 0;
		// Frames must reach the mock serial port one at a time and in order.
		let queue = Promise.resolve();
		socket.on("data", (chunk) => {
			const [frames, rest] = reframe(Buffer.concat([pending, chunk]));
			pending = Buffer.from(rest);
			// Evidence for the re-framing: the stock MockServer would have died here.
			if (frames.length > 1 && merged++ === 0) {
				console.log(`re-framing: a TCP chunk carried ${frames.length} frames`);
			}
			for (const frame of frames) {
				const copy = Uint8Array.from(frame);
				queue = queue.then(() =>
					serial.writeAsync(copy).catch((e) => console.error("serial write failed", e)),
				);
			}
		});
		socket.on("error", (e) => console.error("serial socket error", e.message));
		socket.on("close", () => {
			faucet.disconnect();
			void writable.close().catch(() => {});
			console.log(`serial client disconnected; ${merged} chunks carried several frames`);
		});
	});
	// zwave-js expects one serial port owner.
	server.maxConnections = 1;
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen({ host: "127.0.0.1", port }, () => resolve(server));
	});
}

async function main() {
	const { serial, port: mockPort } = await createAndOpenMockedZWaveSerialPort();
	const controller = await MockController.create({
		homeId: 0x7e570001,
		ownNodeId: 1,
		mockPort,
		serial,
	});
	controller.defineBehavior(...createDefaultMockControllerBehaviors());
	const nodes = new Map();
	for (const spec of config.nodes) nodes.set(spec.id, await createLock(controller, spec));
	const serialServer = await startSerialServer(serial, config.serialPort);
	const controlServer = await startControlServer(controller, nodes, config.controlPort);
	const shutdown = () => {
		serialServer.close();
		controlServer.close();
		controller.destroy();
		process.exit(0);
	};
	process.on("SIGTERM", shutdown);
	process.on("SIGINT", shutdown);
	console.log(
		`MOCK_READY ${JSON.stringify({
			serialPort: serialServer.address().port,
			controlPort: controlServer.address().port,
			nodes: [...nodes.keys()],
		})}`,
	);
}

main().catch((e) => {
	console.error("mock_locks failed", e);
	process.exit(1);
});
