/* A register-level model of the ADS131M04 on SPI, written from its datasheet,
 * for testing the driver on the host and as the ADC of the emulated force node.
 * Time is given by the caller (microseconds, wrapping at 2^32). */
#ifndef ADS131M04_MODEL_H
#define ADS131M04_MODEL_H

#include <stdint.h>

#include "../core/ss_bus.h"

/* The differential input of each channel, in volts, at conversion `index`. */
typedef void (*ads_model_signal_fn)(void *ctx, uint32_t index, float volts[4]);

typedef struct {
    uint16_t reg[64];
    uint16_t response;       /* first word of the next frame */
    int32_t data[4];         /* the latest conversion, 24-bit codes */
    uint32_t now_us;
    uint32_t clkin_hz;       /* 8.192 MHz on the node's board */
    uint32_t next_conversion_us;
    uint32_t conversions;    /* since power-up or reset */
    uint32_t overwritten;    /* conversions replaced before they were read */
    int unread;              /* the latest conversion has not been read */
    uint32_t drdy_edge_us;
    int drdy_pending;
    uint32_t bad_frames;     /* frames that were not whole words */
    ads_model_signal_fn signal;
    void *signal_ctx;
    ss_spi_t bus;
} ads131m04_model_t;

void ads131m04_model_init(ads131m04_model_t *m, ads_model_signal_fn signal, void *ctx, uint32_t now_us);
void ads131m04_model_advance(ads131m04_model_t *m, uint32_t now_us);
void ads131m04_model_transfer(ads131m04_model_t *m, const uint8_t *tx, uint8_t *rx, uint32_t n);
/* 1 and the falling edge's time when /DRDY fell since the last call. */
int ads131m04_model_drdy(ads131m04_model_t *m, uint32_t *edge_us);
uint32_t ads131m04_model_period_us(const ads131m04_model_t *m);

#endif
