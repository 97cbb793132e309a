/* The sampler of a sensor node: one stream, portable C, no hardware.
 *
 * The board calls ss_node_sample() with each sample and the MCU time it was
 * taken (from the chip's data-ready or FIFO interrupt), and ss_node_rx() with
 * each byte from the host. The node batches, stamps each batch with its first
 * sample's time, answers commands, and never waits for the port: a frame that
 * does not fit in the board's queue is dropped and counted in `overflow`, as is
 * every sample the chip lost (a gap in time longer than a sample period). */
#ifndef SS_NODE_H
#define SS_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "../stridesync_proto.h"

#define SS_NODE_MAX_CHANNELS 6u
#define SS_NODE_MAX_BATCH 20u

typedef struct {
    const ss_hello_t *hello;      /* one stream: hello->streams[0] */
    uint32_t period_us;           /* nominal sample period */
    uint8_t batch_size;           /* samples per frame, 10 = a frame every 10 ms at 1 kHz */
    size_t (*write)(const uint8_t *data, size_t n); /* all or nothing, never waits */
    uint32_t (*now_us)(void);     /* the MCU clock */
    int sensor_ok;                /* 0: the chip did not answer; START is refused (busy) */

    int streaming;
    uint32_t next_index;          /* samples taken (or lost) since boot */
    uint16_t overflow;            /* samples dropped on the MCU since boot */
    float period_est_us;          /* the chip's own period, learnt from its stamps */
    int have_last;
    uint32_t last_stamp_us;       /* when the last sample was taken */
    int32_t latest[SS_NODE_MAX_CHANNELS];
    int32_t tare[SS_NODE_MAX_CHANNELS];
    int32_t batch[SS_NODE_MAX_BATCH * SS_NODE_MAX_CHANNELS];
    uint8_t n_batch;
    uint32_t batch_first, batch_stamp_us;
    ss_cmd_decoder_t decoder;
} ss_node_t;

/* Announce the (re)boot with a HELLO. */
void ss_node_boot(ss_node_t *node);
void ss_node_rx(ss_node_t *node, uint8_t byte);
/* n consecutive samples of the stream's channels, raw, the first taken at
 * first_stamp_us and the rest one period apart. */
void ss_node_samples(ss_node_t *node, uint32_t first_stamp_us, const int32_t *raw, unsigned n);
/* The chip says it lost samples (e.g. its FIFO filled): the gap is counted from
 * the time of the next sample delivered. */
void ss_node_chip_lost(ss_node_t *node);
/* The first sample's time of n samples whose last one was taken at last_stamp_us. */
uint32_t ss_node_first_stamp(const ss_node_t *node, uint32_t last_stamp_us, unsigned n);

#endif
