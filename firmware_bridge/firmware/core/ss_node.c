/* The sampler of a sensor node (see ss_node.h). */
#include "ss_node.h"

static const ss_stream_t *stream(const ss_node_t *node) { return &node->hello->streams[0]; }

static void send(ss_node_t *node, const uint8_t *frame, size_t n)
{
    if (n)
        (void)node->write(frame, n);
}

void ss_node_boot(ss_node_t *node)
{
    static const uint8_t delimiter = 0x00;
    uint8_t frame[SS_FRAME_CAPACITY(192)];
    node->streaming = 0;
    node->next_index = 0;
    node->overflow = 0;
    node->n_batch = 0;
    node->have_last = 0;
    node->period_est_us = (float)node->period_us;
    ss_cmd_decoder_init(&node->decoder);
    /* A reset can cut a frame short: a delimiter first ends it on the host, so
     * that the HELLO is not lost with it. */
    send(node, &delimiter, 1);
    send(node, frame, ss_frame_hello(node->hello, frame, sizeof frame));
}

static void flush_batch(ss_node_t *node)
{
    static uint8_t frame[SS_FRAME_CAPACITY(12 + SS_NODE_MAX_BATCH * SS_NODE_MAX_CHANNELS * 4)];
    const ss_stream_t *s = stream(node);
    size_t n;
    if (node->n_batch == 0)
        return;
    if (s->format == SS_FORMAT_INT16) {
        int16_t v[SS_NODE_MAX_BATCH * SS_NODE_MAX_CHANNELS];
        unsigned i;
        for (i = 0; i < (unsigned)node->n_batch * s->n_channels; i++) {
            int32_t x = node->batch[i]; /* a tare can push a value past the int16 range */
            v[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
        }
        n = ss_frame_samples_i16(s->stream_id, node->batch_first, node->overflow, node->batch_stamp_us,
                                 node->n_batch, s->n_channels, v, frame, sizeof frame);
    } else {
        n = ss_frame_samples_i32(s->stream_id, node->batch_first, node->overflow, node->batch_stamp_us,
                                 node->n_batch, s->n_channels, node->batch, frame, sizeof frame);
    }
    if (n == 0 || node->write(frame, n) == 0)
        node->overflow = (uint16_t)(node->overflow + node->n_batch); /* the port is full: dropped */
    node->n_batch = 0;
}

static void count_lost(ss_node_t *node, uint32_t n)
{
    flush_batch(node); /* a batch holds consecutive samples only */
    node->next_index += n;
    node->overflow = (uint16_t)(node->overflow + n);
}

uint32_t ss_node_first_stamp(const ss_node_t *node, uint32_t last_stamp_us, unsigned n)
{
    return last_stamp_us - (uint32_t)(node->period_est_us * (float)(n ? n - 1u : 0u) + 0.5f);
}

static void learn_period(ss_node_t *node, uint32_t first_stamp_us, uint32_t gap)
{
    /* An exponential average of the spacing of samples with no loss between
     * them: the chip's own oscillator (1-2 % off nominal for a MEMS IMU) sets
     * how many samples a gap in time was. */
    float spacing = (float)(first_stamp_us - node->last_stamp_us);
    float nominal = (float)node->period_us;
    if (gap == 0 && spacing > 0.9f * nominal && spacing < 1.1f * nominal)
        node->period_est_us += (spacing - node->period_est_us) / 64.0f;
}

void ss_node_samples(ss_node_t *node, uint32_t first_stamp_us, const int32_t *raw, unsigned n)
{
    const ss_stream_t *s = stream(node);
    unsigned i, c;
    if (!node->streaming || n == 0)
        return;
    if (node->have_last) {
        float spaced = (float)(first_stamp_us - node->last_stamp_us) / node->period_est_us;
        uint32_t gap = spaced > 1.5f ? (uint32_t)(spaced + 0.5f) - 1u : 0u;
        learn_period(node, first_stamp_us, gap);
        if (gap)
            count_lost(node, gap);
    }
    for (i = 0; i < n; i++) {
        if (node->n_batch == 0) {
            node->batch_first = node->next_index;
            node->batch_stamp_us = first_stamp_us + (uint32_t)(node->period_est_us * (float)i + 0.5f);
        }
        for (c = 0; c < s->n_channels; c++) {
            node->latest[c] = raw[i * s->n_channels + c];
            node->batch[node->n_batch * s->n_channels + c] = node->latest[c] - node->tare[c];
        }
        node->n_batch++;
        node->next_index++;
        if (node->n_batch >= node->batch_size)
            flush_batch(node);
    }
    node->have_last = 1;
    node->last_stamp_us = first_stamp_us + (uint32_t)(node->period_est_us * (float)(n - 1u) + 0.5f);
}

void ss_node_chip_lost(ss_node_t *node)
{
    flush_batch(node); /* what follows is counted by time from have_last */
}

static uint8_t command(ss_node_t *node, const ss_command_t *cmd)
{
    const ss_stream_t *s = stream(node);
    unsigned c;
    switch (cmd->type) {
    case SS_CMD_START:
        if (!node->sensor_ok)
            return SS_ACK_BUSY;
        if (!node->streaming)
            node->have_last = 0; /* indices go on; time starts anew */
        node->streaming = 1;
        return SS_ACK_OK;
    case SS_CMD_STOP:
        flush_batch(node);
        node->streaming = 0;
        return SS_ACK_OK;
    case SS_CMD_TARE:
        if (cmd->stream_id != SS_ALL_STREAMS && cmd->stream_id != s->stream_id)
            return SS_ACK_BAD_ARGUMENT;
        for (c = 0; c < s->n_channels; c++)
            node->tare[c] = node->latest[c];
        return SS_ACK_OK;
    default:
        return SS_ACK_UNKNOWN_COMMAND;
    }
}

void ss_node_rx(ss_node_t *node, uint8_t byte)
{
    uint8_t frame[SS_FRAME_CAPACITY(192)];
    ss_command_t cmd;
    if (!ss_cmd_decoder_feed(&node->decoder, byte, &cmd))
        return;
    if (cmd.type == SS_CMD_CLOCK_QUERY) {
        send(node, frame, ss_frame_clock(cmd.token, node->now_us(), frame, sizeof frame));
    } else if (cmd.type == SS_CMD_IDENTIFY) {
        send(node, frame, ss_frame_hello(node->hello, frame, sizeof frame));
    } else {
        uint8_t status = command(node, &cmd);
        send(node, frame, ss_frame_ack(cmd.type, cmd.token, status, frame, sizeof frame));
    }
}
