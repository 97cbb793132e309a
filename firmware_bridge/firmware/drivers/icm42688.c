/* ICM-42688-P driver (see icm42688.h); register map in icm42688_regs.h. */
#include "icm42688.h"

#include "icm42688_regs.h"

static void write_reg(ss_spi_t *spi, uint8_t addr, uint8_t value)
{
    uint8_t tx[2] = {addr & 0x7Fu, value};
    spi->transfer(spi->ctx, tx, 0, 2);
}

static uint8_t read_reg(ss_spi_t *spi, uint8_t addr)
{
    uint8_t tx[2] = {(uint8_t)(addr | 0x80u), 0}, rx[2] = {0, 0};
    spi->transfer(spi->ctx, tx, rx, 2);
    return rx[1];
}

/* Register values, as the datasheet's section 14 spells them. */
#define INTF_CONFIG0_SPI_BIG_ENDIAN_BYTES 0x33u /* count in bytes, count and data big-endian, I2C off */
#define ODR_1KHZ 0x06u
#define GYRO_FS_2000DPS (0u << 5)
#define ACCEL_FS_16G (0u << 5)
#define FIFO_ACCEL_GYRO_TEMP 0x07u
#define INT1_PUSH_PULL_ACTIVE_HIGH_PULSED 0x03u
#define INT_CONFIG1_SYNC 0x00u /* INT_ASYNC_RESET = 0, 100 us pulses */
#define INT1_FIFO_THRESHOLD 0x04u
#define FIFO_STOP_ON_FULL 0x80u
#define SENSORS_LOW_NOISE 0x0Fu

int icm42688_init(icm42688_t *d, ss_spi_t *spi, uint16_t watermark_packets)
{
    uint16_t wm_bytes = (uint16_t)(watermark_packets * 16u);
    d->spi = spi;
    d->watermark_packets = watermark_packets;
    d->bad_packets = 0;
    write_reg(spi, ICM_DEVICE_CONFIG, 0x01u);
    spi->delay_us(spi->ctx, ICM_RESET_US + 100u);
    if (read_reg(spi, ICM_WHO_AM_I) != ICM_WHO_AM_I_VALUE)
        return ICM42688_ERR_ID;
    (void)read_reg(spi, ICM_INT_STATUS); /* clears RESET_DONE */
    write_reg(spi, ICM_INTF_CONFIG0, INTF_CONFIG0_SPI_BIG_ENDIAN_BYTES);
    write_reg(spi, ICM_GYRO_CONFIG0, GYRO_FS_2000DPS | ODR_1KHZ);
    write_reg(spi, ICM_ACCEL_CONFIG0, ACCEL_FS_16G | ODR_1KHZ);
    write_reg(spi, ICM_FIFO_CONFIG1, FIFO_ACCEL_GYRO_TEMP);
    write_reg(spi, ICM_FIFO_CONFIG2, (uint8_t)wm_bytes);
    write_reg(spi, ICM_FIFO_CONFIG3, (uint8_t)(wm_bytes >> 8));
    write_reg(spi, ICM_INT_CONFIG, INT1_PUSH_PULL_ACTIVE_HIGH_PULSED);
    write_reg(spi, ICM_INT_CONFIG1, INT_CONFIG1_SYNC);
    write_reg(spi, ICM_INT_SOURCE0, INT1_FIFO_THRESHOLD);
    write_reg(spi, ICM_FIFO_CONFIG, FIFO_STOP_ON_FULL);
    write_reg(spi, ICM_PWR_MGMT0, SENSORS_LOW_NOISE);
    spi->delay_us(spi->ctx, ICM_POWER_ON_US + 50u);
    if (read_reg(spi, ICM_GYRO_CONFIG0) != (GYRO_FS_2000DPS | ODR_1KHZ) ||
        read_reg(spi, ICM_ACCEL_CONFIG0) != (ACCEL_FS_16G | ODR_1KHZ) ||
        read_reg(spi, ICM_FIFO_CONFIG1) != FIFO_ACCEL_GYRO_TEMP ||
        read_reg(spi, ICM_INT_CONFIG1) != INT_CONFIG1_SYNC ||
        read_reg(spi, ICM_PWR_MGMT0) != SENSORS_LOW_NOISE)
        return ICM42688_ERR_CONFIG;
    return ICM42688_OK;
}

static int16_t be16(const uint8_t *p) { return (int16_t)(((uint16_t)p[0] << 8) | p[1]); }

static void flush(icm42688_t *d)
{
    write_reg(d->spi, ICM_SIGNAL_PATH_RESET, ICM_FIFO_FLUSH);
}

int icm42688_read_fifo(icm42688_t *d, int16_t (*out)[6], int max, int *full)
{
    static uint8_t buf[1 + ICM42688_MAX_PACKETS * ICM_PACKET_BYTES];
    uint8_t tx[3] = {ICM_FIFO_COUNTH | 0x80u, 0, 0}, rx[3];
    uint32_t count, n, i;
    int k;
    *full = (read_reg(d->spi, ICM_INT_STATUS) & ICM_INT_STATUS_FIFO_FULL) != 0;
    if (*full) {
        flush(d);
        return 0;
    }
    d->spi->transfer(d->spi->ctx, tx, rx, 3);
    count = ((uint32_t)rx[1] << 8 | rx[2]) / ICM_PACKET_BYTES;
    n = count < (uint32_t)max ? count : (uint32_t)max;
    if (n > ICM42688_MAX_PACKETS)
        n = ICM42688_MAX_PACKETS;
    if (n == 0)
        return 0;
    buf[0] = ICM_FIFO_DATA | 0x80u;
    for (i = 1; i < 1 + n * ICM_PACKET_BYTES; i++)
        buf[i] = 0;
    d->spi->transfer(d->spi->ctx, buf, buf, 1 + n * ICM_PACKET_BYTES);
    for (i = 0; i < n; i++) {
        const uint8_t *p = buf + 1 + i * ICM_PACKET_BYTES;
        if ((p[0] & (ICM_HEADER_EMPTY | ICM_HEADER_ACCEL_GYRO)) != ICM_HEADER_ACCEL_GYRO) {
            d->bad_packets++;
            flush(d); /* out of step with the packets: start again */
            *full = 1;
            return 0;
        }
        for (k = 0; k < 6; k++)
            out[i][k] = be16(p + 1 + 2 * k); /* accel x y z, then gyro x y z */
    }
    return (int)n;
}
