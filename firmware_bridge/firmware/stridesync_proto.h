/*
 * Stridesync wire protocol v1: reference encoder for sensor firmware.
 *
 * Portable C99, no allocation, no platform headers: the firmware samples,
 * stamps and frames; all maths runs on the host. The byte layouts are
 * documented in docs/protocol.md and pinned by tests/vectors/vectors.json,
 * which the host's Python codec is tested against too.
 *
 * A frame on the wire is COBS(body) followed by 0x00, where
 *   body = version u8 | type u8 | payload | crc16 u16 little-endian
 * and the CRC is CRC-16/CCITT-FALSE over version, type and payload.
 *
 * Every builder writes one complete frame (delimiter included) into `out`
 * and returns its length, or 0 when it does not fit in `cap` bytes.
 * Floats are IEEE 754 single precision, as on every MCU we know of.
 */
#ifndef STRIDESYNC_PROTO_H
#define STRIDESYNC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SS_PROTOCOL_VERSION 1u

/* Largest body (version to CRC). Builders use a stack buffer of this size. */
#ifndef SS_MAX_BODY
#define SS_MAX_BODY 1024u
#endif
/* Worst case frame size for a body of n bytes: COBS overhead + delimiter. */
#define SS_FRAME_CAPACITY(n) ((n) + (n) / 254u + 2u)

enum ss_msg_type {
    SS_MSG_HELLO = 0x01,
    SS_MSG_SAMPLES = 0x02,
    SS_MSG_CLOCK = 0x03,
    SS_MSG_ACK = 0x04,
    SS_CMD_IDENTIFY = 0x80,
    SS_CMD_START = 0x81,
    SS_CMD_STOP = 0x82,
    SS_CMD_TARE = 0x83,
    SS_CMD_CLOCK_QUERY = 0x84
};

enum ss_sensor_kind { SS_FORCE_3AXIS = 1, SS_FORCE_VERTICAL = 2, SS_IMU_6AXIS = 3, SS_SPEED = 4 };

enum ss_placement {
    SS_PLACE_UNSPECIFIED = 0,
    SS_PLACE_FORCE_PLATE = 1,
    SS_PLACE_TREADMILL = 2,
    SS_PLACE_SHANK_LEFT = 3,
    SS_PLACE_SHANK_RIGHT = 4,
    SS_PLACE_THIGH_LEFT = 5,
    SS_PLACE_THIGH_RIGHT = 6,
    SS_PLACE_TRUNK = 7,
    SS_PLACE_PELVIS = 8,
    SS_PLACE_WRIST_LEFT = 9,
    SS_PLACE_WRIST_RIGHT = 10,
    SS_PLACE_TRACKSIDE = 11
};

enum ss_channel {
    SS_CH_FX = 1, SS_CH_FY = 2, SS_CH_FZ = 3,
    SS_CH_GX = 4, SS_CH_GY = 5, SS_CH_GZ = 6,
    SS_CH_AX = 7, SS_CH_AY = 8, SS_CH_AZ = 9,
    SS_CH_VELOCITY = 10, SS_CH_DISTANCE = 11
};

enum ss_unit { SS_UNIT_N = 1, SS_UNIT_DEG_PER_S = 2, SS_UNIT_M_PER_S2 = 3, SS_UNIT_M_PER_S = 4, SS_UNIT_M = 5 };

enum ss_sample_format { SS_FORMAT_INT16 = 1, SS_FORMAT_INT32 = 2 };

enum ss_ack_status { SS_ACK_OK = 0, SS_ACK_UNKNOWN_COMMAND = 1, SS_ACK_BAD_ARGUMENT = 2, SS_ACK_BUSY = 3 };

#define SS_ALL_STREAMS 0xFFu

typedef struct {
    uint8_t channel; /* enum ss_channel */
    uint8_t unit;    /* enum ss_unit */
    float scale;     /* value = raw * scale + offset, in `unit` */
    float offset;
} ss_channel_t;

typedef struct {
    uint8_t stream_id;
    uint8_t kind;      /* enum ss_sensor_kind */
    uint8_t placement; /* enum ss_placement */
    uint8_t index;     /* position among like sensors, e.g. plate 0, 1, 2 along a runway */
    uint32_t sample_rate_mhz; /* nominal rate in millihertz: 1000 Hz = 1000000 */
    uint8_t format;    /* enum ss_sample_format */
    uint8_t n_channels;
    const ss_channel_t *channels;
} ss_stream_t;

typedef struct {
    uint64_t device_id; /* the MCU's unique serial number */
    uint8_t firmware[3]; /* major, minor, patch */
    const char *name;    /* NUL-terminated, at most 32 bytes */
    uint8_t n_streams;
    const ss_stream_t *streams;
} ss_hello_t;

typedef struct {
    uint8_t type;      /* enum ss_msg_type, one of SS_CMD_* */
    uint16_t token;    /* echoed in the reply */
    uint8_t stream_id; /* TARE only; SS_ALL_STREAMS otherwise */
} ss_command_t;

uint16_t ss_crc16(const uint8_t *data, size_t len);
/* COBS-encode len bytes; returns the encoded length (no delimiter). */
size_t ss_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* COBS-decode one frame without its delimiter; returns the body length, 0 on error. */
size_t ss_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

size_t ss_frame_hello(const ss_hello_t *hello, uint8_t *out, size_t cap);
/* `data` holds n_samples * n_channels values, sample after sample. */
size_t ss_frame_samples_i16(uint8_t stream_id, uint32_t first_sample, uint16_t overflow,
                            uint32_t mcu_time_us, uint8_t n_samples, uint8_t n_channels,
                            const int16_t *data, uint8_t *out, size_t cap);
size_t ss_frame_samples_i32(uint8_t stream_id, uint32_t first_sample, uint16_t overflow,
                            uint32_t mcu_time_us, uint8_t n_samples, uint8_t n_channels,
                            const int32_t *data, uint8_t *out, size_t cap);
size_t ss_frame_clock(uint16_t token, uint32_t mcu_time_us, uint8_t *out, size_t cap);
size_t ss_frame_ack(uint8_t command, uint16_t token, uint8_t status, uint8_t *out, size_t cap);
/* Host side of the protocol, for tools and tests written in C. */
size_t ss_frame_command(const ss_command_t *cmd, uint8_t *out, size_t cap);

/* Incremental decoder for host commands: feed bytes as they arrive. */
typedef struct {
    uint8_t buf[32];
    size_t len;
    int discarding; /* an over-long run: skip to the next delimiter */
    uint32_t bad_frames;
} ss_cmd_decoder_t;

void ss_cmd_decoder_init(ss_cmd_decoder_t *d);
/* Returns 1 and fills *cmd when `byte` completes a valid command frame. */
int ss_cmd_decoder_feed(ss_cmd_decoder_t *d, uint8_t byte, ss_command_t *cmd);

#endif /* STRIDESYNC_PROTO_H */
