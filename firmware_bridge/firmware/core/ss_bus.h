/* The one thing a chip driver needs from a board: an SPI bus and a delay. The
 * same drivers run on the MCU (boards/) and on the host against chip models
 * (models/, host/). */
#ifndef SS_BUS_H
#define SS_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ss_spi {
    /* Full-duplex: clock out tx[0..n) while reading rx[0..n), chip select held
     * low for the whole transfer. tx or rx may be NULL (zeros out, discard in). */
    void (*transfer)(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n);
    void (*delay_us)(void *ctx, uint32_t us);
    void *ctx;
} ss_spi_t;

#endif
