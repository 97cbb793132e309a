/* Stridesync wire protocol v1: reference encoder. See stridesync_proto.h. */
#include "stridesync_proto.h"

#include <string.h>

uint16_t ss_crc16(const uint8_t *data, size_t len)
{
    /* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out. */
    uint16_t crc = 0xFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t ss_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t read = 0, write = 1, code_pos = 0;
    uint8_t code = 1;
    while (read < len) {
        if (in[read] == 0) {
            out[code_pos] = code;
            code_pos = write++;
            code = 1;
        } else {
            out[write++] = in[read];
            if (++code == 0xFF) {
                out[code_pos] = code;
                if (read + 1 == len)
                    return write; /* a full block ends the input: no code byte follows */
                code_pos = write++;
                code = 1;
            }
        }
        read++;
    }
    out[code_pos] = code;
    return write;
}

size_t ss_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t read = 0, write = 0;
    while (read < len) {
        uint8_t code = in[read++];
        uint8_t i;
        if (code == 0)
            return 0;
        for (i = 1; i < code; i++) {
            if (read >= len || in[read] == 0 || write >= cap)
                return 0;
            out[write++] = in[read++];
        }
        if (code != 0xFF && read < len) {
            if (write >= cap)
                return 0;
            out[write++] = 0;
        }
    }
    return write;
}

/* --- body writer ------------------------------------------------------- */

typedef struct {
    uint8_t buf[SS_MAX_BODY];
    size_t len;
    int overflow;
} body_t;

static void put_u8(body_t *b, uint8_t v)
{
    if (b->len + 1 > sizeof b->buf) {
        b->overflow = 1;
        return;
    }
    b->buf[b->len++] = v;
}

static void put_u16(body_t *b, uint16_t v)
{
    put_u8(b, (uint8_t)(v & 0xFFu));
    put_u8(b, (uint8_t)(v >> 8));
}

static void put_u32(body_t *b, uint32_t v)
{
    put_u16(b, (uint16_t)(v & 0xFFFFu));
    put_u16(b, (uint16_t)(v >> 16));
}

static void put_u64(body_t *b, uint64_t v)
{
    put_u32(b, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(body_t *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    put_u32(b, v);
}

static void begin(body_t *b, uint8_t type)
{
    b->len = 0;
    b->overflow = 0;
    put_u8(b, SS_PROTOCOL_VERSION);
    put_u8(b, type);
}

/* Append the CRC, COBS-encode and delimit. */
static size_t finish(body_t *b, uint8_t *out, size_t cap)
{
    size_t n;
    put_u16(b, ss_crc16(b->buf, b->len));
    if (b->overflow || SS_FRAME_CAPACITY(b->len) > cap)
        return 0;
    n = ss_cobs_encode(b->buf, b->len, out);
    out[n++] = 0;
    return n;
}

/* --- frames ---------------------------------------------------------------- */

size_t ss_frame_hello(const ss_hello_t *hello, uint8_t *out, size_t cap)
{
    body_t b;
    size_t name_len = strlen(hello->name);
    uint8_t s, c;
    if (name_len > 32)
        return 0;
    begin(&b, SS_MSG_HELLO);
    put_u64(&b, hello->device_id);
    put_u8(&b, hello->firmware[0]);
    put_u8(&b, hello->firmware[1]);
    put_u8(&b, hello->firmware[2]);
    put_u8(&b, hello->n_streams);
    put_u8(&b, (uint8_t)name_len);
    for (c = 0; c < name_len; c++)
        put_u8(&b, (uint8_t)hello->name[c]);
    for (s = 0; s < hello->n_streams; s++) {
        const ss_stream_t *st = &hello->streams[s];
        put_u8(&b, st->stream_id);
        put_u8(&b, st->kind);
        put_u8(&b, st->placement);
        put_u8(&b, st->index);
        put_u32(&b, st->sample_rate_mhz);
        put_u8(&b, st->format);
        put_u8(&b, st->n_channels);
        for (c = 0; c < st->n_channels; c++) {
            put_u8(&b, st->channels[c].channel);
            put_u8(&b, st->channels[c].unit);
            put_f32(&b, st->channels[c].scale);
            put_f32(&b, st->channels[c].offset);
        }
    }
    return finish(&b, out, cap);
}

static void samples_head(body_t *b, uint8_t stream_id, uint32_t first_sample, uint16_t overflow,
                         uint32_t mcu_time_us, uint8_t n_samples)
{
    begin(b, SS_MSG_SAMPLES);
    put_u8(b, stream_id);
    put_u32(b, first_sample);
    put_u16(b, overflow);
    put_u32(b, mcu_time_us);
    put_u8(b, n_samples);
}

size_t ss_frame_samples_i16(uint8_t stream_id, uint32_t first_sample, uint16_t overflow,
                            uint32_t mcu_time_us, uint8_t n_samples, uint8_t n_channels,
                            const int16_t *data, uint8_t *out, size_t cap)
{
    body_t b;
    size_t i, n = (size_t)n_samples * n_channels;
    samples_head(&b, stream_id, first_sample, overflow, mcu_time_us, n_samples);
    for (i = 0; i < n; i++)
        put_u16(&b, (uint16_t)data[i]);
    return finish(&b, out, cap);
}

size_t ss_frame_samples_i32(uint8_t stream_id, uint32_t first_sample, uint16_t overflow,
                            uint32_t mcu_time_us, uint8_t n_samples, uint8_t n_channels,
                            const int32_t *data, uint8_t *out, size_t cap)
{
    body_t b;
    size_t i, n = (size_t)n_samples * n_channels;
    samples_head(&b, stream_id, first_sample, overflow, mcu_time_us, n_samples);
    for (i = 0; i < n; i++)
        put_u32(&b, (uint32_t)data[i]);
    return finish(&b, out, cap);
}

size_t ss_frame_clock(uint16_t token, uint32_t mcu_time_us, uint8_t *out, size_t cap)
{
    body_t b;
    begin(&b, SS_MSG_CLOCK);
    put_u16(&b, token);
    put_u32(&b, mcu_time_us);
    return finish(&b, out, cap);
}

size_t ss_frame_ack(uint8_t command, uint16_t token, uint8_t status, uint8_t *out, size_t cap)
{
    body_t b;
    begin(&b, SS_MSG_ACK);
    put_u8(&b, command);
    put_u16(&b, token);
    put_u8(&b, status);
    return finish(&b, out, cap);
}

size_t ss_frame_command(const ss_command_t *cmd, uint8_t *out, size_t cap)
{
    body_t b;
    begin(&b, cmd->type);
    put_u16(&b, cmd->token);
    if (cmd->type == SS_CMD_TARE)
        put_u8(&b, cmd->stream_id);
    return finish(&b, out, cap);
}

/* --- command decoder ------------------------------------------------------- */

void ss_cmd_decoder_init(ss_cmd_decoder_t *d)
{
    d->len = 0;
    d->discarding = 0;
    d->bad_frames = 0;
}

static int parse_command(const uint8_t *body, size_t len, ss_command_t *cmd)
{
    uint16_t crc;
    size_t payload;
    if (len < 4)
        return 0;
    crc = (uint16_t)(body[len - 2] | (body[len - 1] << 8));
    if (ss_crc16(body, len - 2) != crc || body[0] != SS_PROTOCOL_VERSION)
        return 0;
    payload = len - 4;
    cmd->type = body[1];
    switch (cmd->type) {
    case SS_CMD_IDENTIFY:
    case SS_CMD_START:
    case SS_CMD_STOP:
    case SS_CMD_CLOCK_QUERY:
        if (payload != 2)
            return 0;
        cmd->stream_id = SS_ALL_STREAMS;
        break;
    case SS_CMD_TARE:
        if (payload != 3)
            return 0;
        cmd->stream_id = body[4];
        break;
    default:
        return 0;
    }
    cmd->token = (uint16_t)(body[2] | (body[3] << 8));
    return 1;
}

int ss_cmd_decoder_feed(ss_cmd_decoder_t *d, uint8_t byte, ss_command_t *cmd)
{
    uint8_t body[sizeof d->buf];
    size_t n;
    if (byte != 0) {
        if (d->discarding)
            return 0;
        if (d->len == sizeof d->buf) {
            d->discarding = 1;
            d->len = 0;
            d->bad_frames++;
            return 0;
        }
        d->buf[d->len++] = byte;
        return 0;
    }
    if (d->discarding || d->len == 0) {
        d->discarding = 0;
        return 0;
    }
    n = ss_cobs_decode(d->buf, d->len, body, sizeof body);
    d->len = 0;
    if (n && parse_command(body, n, cmd))
        return 1;
    d->bad_frames++;
    return 0;
}
