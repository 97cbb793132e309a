/* A register-level model of the ICM-42688-P on SPI, written from its datasheet,
 * for testing the driver on the host and as the sensor of the emulated IMU node.
 * Time is given by the caller (microseconds, wrapping at 2^32). */
#ifndef ICM42688_MODEL_H
#define ICM42688_MODEL_H

#include <stdint.h>

#include "../core/ss_bus.h"

/* The true motion at sample `index`: angular rate in deg/s and specific force in
 * g along the chip's x, y, z axes. */
typedef void (*icm_model_signal_fn)(void *ctx, uint32_t index, float gyro_dps[3], float accel_g[3]);

typedef struct {
    uint8_t reg[128];
    uint8_t fifo[2048];
    uint32_t fifo_start, fifo_len;
    uint32_t now_us;
    uint32_t busy_until_us;     /* after a soft reset: the chip does not answer */
    uint32_t no_write_until_us; /* after power-on: writes are not taken */
    uint32_t next_sample_us;
    uint32_t samples;           /* samples the sensor took since power-on */
    uint32_t dropped;           /* samples that found the FIFO full */
    uint32_t ignored_writes;    /* writes the chip did not take (a driver error) */
    uint32_t int1_edge_us;
    int int1_pending;
    int sampling;
    icm_model_signal_fn signal;
    void *signal_ctx;
    ss_spi_t bus;               /* transfer and delay on this model (delay advances time) */
} icm42688_model_t;

void icm42688_model_init(icm42688_model_t *m, icm_model_signal_fn signal, void *ctx, uint32_t now_us);
/* Run the chip up to now_us: samples at the configured ODR into the FIFO. */
void icm42688_model_advance(icm42688_model_t *m, uint32_t now_us);
void icm42688_model_transfer(icm42688_model_t *m, const uint8_t *tx, uint8_t *rx, uint32_t n);
/* 1 and the edge's time when INT1 pulsed since the last call. */
int icm42688_model_int1(icm42688_model_t *m, uint32_t *edge_us);
uint32_t icm42688_model_period_us(const icm42688_model_t *m);

#endif
