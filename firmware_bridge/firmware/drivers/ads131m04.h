/* ADS131M04 driver: four channels, 1 kSPS (OSR 4096 at 8.192 MHz), per-channel
 * PGA gain, one frame read per /DRDY with its output CRC checked. */
#ifndef ADS131M04_H
#define ADS131M04_H

#include <stdint.h>

#include "../core/ss_bus.h"

#define ADS131M04_PERIOD_US 1000u

enum ads131m04_error {
    ADS131M04_OK = 0,
    ADS131M04_ERR_RESET = -1,  /* no 0xFF24 after RESET: not an ADS131M04, or no clock */
    ADS131M04_ERR_ID = -2,
    ADS131M04_ERR_CONFIG = -3, /* a register did not read back as written */
    ADS131M04_ERR_CRC = -4,
};

typedef struct {
    ss_spi_t *spi;
    uint32_t crc_errors;
} ads131m04_t;

/* Volts per code of a channel at PGA gain code g (gain 2^g). */
float ads131m04_volts_per_code(unsigned gain_code);
int ads131m04_init(ads131m04_t *d, ss_spi_t *spi, const uint8_t gain_code[4]);
/* Read the conversion /DRDY announced: four 24-bit codes, sign-extended. */
int ads131m04_read(ads131m04_t *d, int32_t out[4]);

#endif
