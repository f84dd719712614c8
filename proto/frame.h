/* frame.h - length-prefixed JSON frames, the wire format between every
 * slurm-ckpt process (preloaded library, node agents, coordinator, CLI).
 * Public: any component may include it.
 *
 * A frame is a 4-byte big-endian payload length followed by that many bytes
 * of UTF-8 JSON text. The payload is always one JSON object carrying at least
 * "v" (protocol version, an integer) and "type" (a string); see msg.h for the
 * types and docs/protocol.md for the fields of each.
 *
 * Two ways to read frames:
 *  - struct proto_decoder, an incremental decoder for event loops (libevent)
 *    or any code that reads bytes in chunks of its own choosing;
 *  - proto_frame_recv()/proto_frame_send(), blocking helpers for simple
 *    clients (the preloaded library's checkpoint thread, the ckpt CLI).
 * Neither crashes on any input: malformed input is reported, never trusted.
 */
#ifndef CKPT_PROTO_FRAME_H
#define CKPT_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Protocol version spoken by this build; a peer sending another is refused. */
#define PROTO_VERSION 1

/* Bytes of the big-endian length prefix. */
#define PROTO_FRAME_HDR_LEN 4

/* Largest payload accepted or produced: 1 MiB. The biggest legitimate message
 * is a status_reply or drain_sum listing a few thousand ranks (well under
 * 256 KiB); the cap bounds what an unauthenticated or broken peer can make us
 * allocate before we have looked at a single byte of its JSON. */
#define PROTO_FRAME_MAX (1024u * 1024u)

/* Why a frame was refused. Stable names for logs; the numbers are not sent
 * on the wire (the "error" message uses enum proto_err from msg.h). */
enum proto_frame_err {
	PROTO_FRAME_OK = 0,
	PROTO_FRAME_EOVERSIZE = 1,   /* length prefix above PROTO_FRAME_MAX */
	PROTO_FRAME_ETRUNCATED = 2,  /* EOF in the middle of a frame */
	PROTO_FRAME_ENOTJSON = 3,    /* payload empty, not JSON, bad UTF-8 or trailing junk */
	PROTO_FRAME_ENOTOBJECT = 4,  /* valid JSON but not an object */
	PROTO_FRAME_EBADVERSION = 5, /* "v" missing or not an integer */
	PROTO_FRAME_EBADTYPE = 6,    /* "type" missing, not a string, empty or too long */
	PROTO_FRAME_EVERSION = 7,    /* "v" is an integer other than PROTO_VERSION */
	PROTO_FRAME_ENOMEM = 8,	     /* allocation failed while decoding */
};

/* Short fixed description of @err ("frame larger than 1 MiB", ...). */
const char *proto_frame_strerror(enum proto_frame_err err);

/* Encodes @msg as one frame (length prefix + compact JSON) into a malloc'd
 * buffer the caller frees. @msg should carry "v" and "type" (proto_msg_new()
 * sets both); it is not modified in any way that matters to the caller.
 * Returns 0, -EMSGSIZE if the JSON text exceeds PROTO_FRAME_MAX, -ENOMEM,
 * or -EINVAL for a NULL argument. */
int proto_frame_encode(const struct json_object *msg, char **out, size_t *out_len);

/* Parses one frame payload (without its length prefix) and checks the
 * envelope ("v" == PROTO_VERSION, "type" a non-empty bounded string).
 * Unknown fields are kept, never refused: newer peers may add fields.
 * On success stores a new reference in *@msg and returns 0. On failure
 * returns -EPROTO (or -ENOMEM) and, when @err is not NULL, the reason. */
int proto_frame_decode(const char *payload, size_t len, struct json_object **msg,
		       enum proto_frame_err *err);

/* Checks only the envelope of an already parsed @msg (see proto_frame_decode).
 * Returns PROTO_FRAME_OK or the reason it is refused. */
enum proto_frame_err proto_frame_check(const struct json_object *msg);

/* ---- incremental decoder ------------------------------------------------ */

/* Opaque; one per connection. Not thread-safe. The decoder does not log a
 * peer's malformed frames: the caller knows who the peer is and logs once,
 * using proto_decoder_strerror(). */
struct proto_decoder;

/* Returns a new empty decoder, or NULL when out of memory. */
struct proto_decoder *proto_decoder_new(void);

/* Frees @dec and any bytes still buffered; accepts NULL. */
void proto_decoder_free(struct proto_decoder *dec);

/* Appends @len bytes read from the connection. The bytes are copied.
 * Returns 0, -ENOMEM, or -EPROTO when the decoder already failed (the
 * stream has lost sync: close the connection). A length prefix above
 * PROTO_FRAME_MAX is reported by the next proto_decoder_next() call. */
int proto_decoder_feed(struct proto_decoder *dec, const void *buf, size_t len);

/* Takes the next complete message out of the buffered bytes.
 * Returns 1 and stores a new reference in *@msg (caller puts it),
 *         0 when more bytes are needed (*@msg set to NULL),
 *         -EPROTO or -ENOMEM on failure; *@msg is NULL, the failure is
 *         sticky and proto_decoder_error()/proto_decoder_strerror() tell why.
 * Call it in a loop after each feed until it returns 0. */
int proto_decoder_next(struct proto_decoder *dec, struct json_object **msg);

/* Tells the decoder the peer closed the connection. Returns 0 if no partial
 * frame is buffered, -EPROTO (PROTO_FRAME_ETRUNCATED) otherwise. */
int proto_decoder_eof(struct proto_decoder *dec);

/* Number of bytes buffered but not yet returned as a message. */
size_t proto_decoder_pending(const struct proto_decoder *dec);

/* The sticky failure reason, PROTO_FRAME_OK while none. */
enum proto_frame_err proto_decoder_error(const struct proto_decoder *dec);

/* A precise description of the failure for logs and for the "error" reply,
 * e.g. "frame of 16777216 bytes exceeds the 1048576-byte limit" or
 * "field \"v\" is a string, expected an integer". "" while no failure.
 * Valid until the decoder is freed. */
const char *proto_decoder_strerror(const struct proto_decoder *dec);

/* ---- blocking helpers ---------------------------------------------------- */

/* Sends @msg as one frame on @fd, writing until done (partial writes and
 * EINTR are retried; a non-blocking @fd is waited for with poll()). Sockets
 * are written with MSG_NOSIGNAL so a closed peer gives -EPIPE, not SIGPIPE.
 * Returns 0, -EMSGSIZE, -ENOMEM, -EPIPE/-ECONNRESET when the peer is gone,
 * or another -errno from the write. Never installs signal handlers. */
int proto_frame_send(int fd, const struct json_object *msg);

/* As proto_frame_send(), giving up with -ETIMEDOUT after @timeout_ms
 * milliseconds in total (-1: wait forever). A timeout may leave a partial
 * frame on the stream: close the connection after it. The limit is exact on
 * sockets; on a blocking pipe one write() may wait for the reader. */
int proto_frame_send_timeout(int fd, const struct json_object *msg, int timeout_ms);

/* Receives exactly one frame from @fd, reading no byte beyond it, and
 * decodes it as proto_frame_decode() does. @timeout_ms bounds the whole
 * frame (-1: wait forever, 0: only what is already readable).
 * Returns 0 and a new reference in *@msg, or
 *   -ETIMEDOUT   nothing complete within @timeout_ms (a partial frame may
 *                have been consumed: close the connection),
 *   -ECONNRESET  the peer closed the connection (cleanly or mid-frame),
 *   -EPROTO      malformed frame (oversized, not JSON, bad envelope),
 *   -ENOMEM, or another -errno from read()/poll().
 * Handles EINTR and partial reads; never uses signals or alarms. */
int proto_frame_recv(int fd, struct json_object **msg, int timeout_ms);

#endif
