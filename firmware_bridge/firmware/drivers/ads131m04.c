/* ADS131M04 driver (see ads131m04.h); commands and registers in ads131m04_regs.h. */
#include "ads131m04.h"

#include "../stridesync_proto.h"
#include "ads131m04_regs.h"

float ads131m04_volts_per_code(unsigned gain_code)
{
    return ADS_VREF_V / (float)(1u << gain_code) / 8388608.0f;
}

/* One frame: a command word (and one data word for WREG) out; the response to
 * the previous command and the channel words in. Returns the response word. */
static uint16_t frame(ads131m04_t *d, uint16_t cmd, uint16_t data, uint8_t rx[ADS_FRAME_BYTES])
{
    uint8_t tx[ADS_FRAME_BYTES] = {0};
    tx[0] = (uint8_t)(cmd >> 8);
    tx[1] = (uint8_t)cmd;
    tx[3] = (uint8_t)(data >> 8);
    tx[4] = (uint8_t)data;
    d->spi->transfer(d->spi->ctx, tx, rx, ADS_FRAME_BYTES);
    return (uint16_t)((rx[0] << 8) | rx[1]);
}

static uint16_t read_reg(ads131m04_t *d, uint8_t addr)
{
    uint8_t rx[ADS_FRAME_BYTES];
    frame(d, (uint16_t)ADS_CMD_RREG(addr), 0, rx);
    return frame(d, ADS_CMD_NULL, 0, rx);
}

static int write_reg(ads131m04_t *d, uint8_t addr, uint16_t value)
{
    uint8_t rx[ADS_FRAME_BYTES];
    frame(d, (uint16_t)ADS_CMD_WREG(addr), value, rx);
    if (frame(d, ADS_CMD_NULL, 0, rx) != ADS_WREG_ACK(addr))
        return ADS131M04_ERR_CONFIG;
    return read_reg(d, addr) == value ? ADS131M04_OK : ADS131M04_ERR_CONFIG;
}

int ads131m04_init(ads131m04_t *d, ss_spi_t *spi, const uint8_t gain_code[4])
{
    uint8_t rx[ADS_FRAME_BYTES];
    uint16_t gain = 0, clock = ADS_CLOCK_ALL_CHANNELS | ADS_CLOCK_OSR(ADS_OSR_4096) | ADS_CLOCK_HIGH_RESOLUTION;
    int k, err;
    d->spi = spi;
    d->crc_errors = 0;
    frame(d, ADS_CMD_RESET, 0, rx);
    spi->delay_us(spi->ctx, 10); /* t_REGACQ is 5 us */
    if (frame(d, ADS_CMD_NULL, 0, rx) != ADS_RESET_ACK)
        return ADS131M04_ERR_RESET;
    if ((read_reg(d, ADS_REG_ID) >> 8) != 0x24u)
        return ADS131M04_ERR_ID;
    for (k = 0; k < 4; k++)
        gain |= (uint16_t)((gain_code[k] & 7u) << (4 * k));
    err = write_reg(d, ADS_REG_GAIN1, gain);
    if (err == ADS131M04_OK)
        err = write_reg(d, ADS_REG_CLOCK, clock);
    return err;
}

static int32_t code24(const uint8_t *p)
{
    uint32_t u = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    return (int32_t)(u << 8) >> 8; /* sign-extend 24 bits */
}

int ads131m04_read(ads131m04_t *d, int32_t out[4])
{
    uint8_t rx[ADS_FRAME_BYTES];
    int k;
    frame(d, ADS_CMD_NULL, 0, rx);
    if (ss_crc16(rx, 15) != (uint16_t)((rx[15] << 8) | rx[16])) {
        d->crc_errors++;
        return ADS131M04_ERR_CRC;
    }
    for (k = 0; k < 4; k++)
        out[k] = code24(rx + 3 * (k + 1));
    return ADS131M04_OK;
}
