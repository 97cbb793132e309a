/* ICM-42688-P driver: +-2000 deg/s and +-16 g at 1 kHz into the FIFO (packet 3),
 * a watermark interrupt on INT1, stop-on-full, read in one burst. */
#ifndef ICM42688_H
#define ICM42688_H

#include <stdint.h>

#include "../core/ss_bus.h"

#define ICM42688_GYRO_DPS_PER_LSB (1.0f / 16.4f)          /* +-2000 deg/s */
#define ICM42688_ACCEL_MS2_PER_LSB (9.80665f / 2048.0f)   /* +-16 g */
#define ICM42688_PERIOD_US 1000u                          /* ODR 1 kHz */
#define ICM42688_MAX_PACKETS 128u                         /* a full FIFO */

enum icm42688_error { ICM42688_OK = 0, ICM42688_ERR_ID = -1, ICM42688_ERR_CONFIG = -2 };

typedef struct {
    ss_spi_t *spi;
    uint16_t watermark_packets;
    uint32_t bad_packets; /* packets with an unexpected header (FIFO flushed) */
} icm42688_t;

/* Reset, check the chip, configure it and start sampling. */
int icm42688_init(icm42688_t *d, ss_spi_t *spi, uint16_t watermark_packets);
/* Empty the FIFO into out[max][6] in the chip's order (ax ay az gx gy gz), raw.
 * Returns the samples read. When the FIFO had filled up (samples lost), it is
 * flushed, *full is set and 0 returned: the caller counts the gap by time. */
int icm42688_read_fifo(icm42688_t *d, int16_t (*out)[6], int max, int *full);

#endif
