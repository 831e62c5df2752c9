/*
 * Messages between the supervisor and its workers.  Every payload that is
 * JSON is one complete JSON text; the supervisor re-checks each one from a
 * worker with the bounded parser before using it (a worker may lie).
 *
 * Conversation:
 *	worker -> HELLO {"version":N,"pid":P}          once, first
 *	sup    -> CONFIG {"name","url","transport","client_capabilities",...}
 *	          once, the answer to HELLO
 *	worker -> READY {"serverInfo","protocolVersion","capabilities",
 *	          "tools":[...], and the gateway's "resources",
 *	          "resourceTemplates", "prompts" when it offers them}
 *	          (or FAIL {"reason","exit":sysexit} then exit)
 *	sup    -> REQUEST id=N  <JSON-RPC request, "id":N>
 *	worker -> RESPONSE id=N <JSON-RPC response from the peer>
 *	worker -> CALLFAIL id=N {"reason":"..."}  transport failure for N
 *	sup    -> CANCEL id=N   the supervisor gave up on N
 *	worker -> NOTIFY_UP id=N|0 <JSON-RPC notification from the peer>
 *	          (N: it came on the stream of request N)
 *	worker -> SREQUEST id=N|0 <JSON-RPC request from the peer to a client>
 *	          (sampling, elicitation, roots: N as for NOTIFY_UP)
 *	sup    -> SRESPONSE <JSON-RPC response to such a request, its own id>
 *	worker -> LISTS {any of "tools","resources","resourceTemplates",
 *	          "prompts"}   a group listed again after its list_changed
 *	sup    -> NOTIFY_DOWN <JSON-RPC notification for the peer>
 *	sup    -> CAPS {"capabilities":{...}}  client capabilities the worker
 *	          should declare upstream from now on
 *	sup    -> PING id=n, worker -> PONG id=n
 *	worker -> LOG {level byte}{text}
 *	sup    -> SHUTDOWN: the worker deletes its session and exits 0
 */
#ifndef MESH_PROTO_H
#define MESH_PROTO_H

#define MESH_PROTO_VERSION	2

/* Descriptor the worker finds its socketpair on. */
#define WORKER_FD		3

enum msg_type {
	MSG_NONE = 0,

	/* supervisor -> worker: 1..99 */
	MSG_CONFIG = 1,
	MSG_REQUEST,
	MSG_NOTIFY_DOWN,
	MSG_PING,
	MSG_SHUTDOWN,
	MSG_CANCEL,		/* id = request to abandon */
	MSG_SRESPONSE,		/* answer to a peer's request to a client */
	MSG_CAPS,		/* client capabilities to declare upstream */

	/* worker -> supervisor: 100..199 */
	MSG_HELLO = 100,
	MSG_READY,
	MSG_FAIL,
	MSG_RESPONSE,
	MSG_CALLFAIL,
	MSG_NOTIFY_UP,
	MSG_LISTS,		/* was MSG_TOOLS: now any of the lists */
	MSG_PONG,
	MSG_LOG,
	MSG_SREQUEST,		/* a peer's request to a client */

	MSG_TYPE_MAX
};

/* Worker exit statuses (sysexits.h): what the supervisor does next. */
/*	EX_OK		stopped on request			*/
/*	EX_CONFIG	bad configuration: permanent		*/
/*	EX_NOPERM	peer said 401/403: permanent		*/
/*	EX_PROTOCOL	peer is not an MCP server: temporary	*/
/*	EX_UNAVAILABLE / EX_TEMPFAIL  network trouble: retry	*/
/*	EX_SOFTWARE	internal error: crash				*/

#endif
