/* ADS131M04 model (see ads131m04_model.h). What it holds to, from the datasheet:
 * reset values; responses arrive in the frame after their command (RESET: 0xFF24,
 * NULL: STATUS, RREG: the register, WREG: 010a aaaa ammm mmmm); conversions at
 * CLKIN / 2 / OSR on the enabled channels, each one dropping /DRDY; a conversion
 * not read before the next one is lost; 24-bit two's-complement codes of
 * +-1.2 V / gain, clipped at full scale; an output CRC (CCITT, 0xFFFF) over the
 * frame. Not modelled: input CRC, register-map CRC, lock, global chop, offset and
 * gain calibration registers. */
#include "ads131m04_model.h"

#include <string.h>

#include "../drivers/ads131m04_regs.h"
#include "../stridesync_proto.h"

static const uint32_t osr[8] = {128, 256, 512, 1024, 2048, 4096, 8192, 16256};

static int after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static void reset_registers(ads131m04_model_t *m)
{
    memset(m->reg, 0, sizeof m->reg);
    m->reg[ADS_REG_ID] = 0x2410;
    m->reg[ADS_REG_STATUS] = 0x0500; /* RESET, 24-bit words */
    m->reg[ADS_REG_MODE] = 0x0510;
    m->reg[ADS_REG_CLOCK] = 0x0F0E;
    m->reg[0x06] = 0x0600; /* CFG */
    m->response = ADS_RESET_ACK;
    m->conversions = 0;
    m->unread = 0;
    m->drdy_pending = 0;
    m->next_conversion_us = m->now_us + ads131m04_model_period_us(m);
}

static void model_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    ads131m04_model_transfer((ads131m04_model_t *)ctx, tx, rx, (uint32_t)n);
}

static void model_delay(void *ctx, uint32_t us)
{
    ads131m04_model_t *m = ctx;
    ads131m04_model_advance(m, m->now_us + us);
}

void ads131m04_model_init(ads131m04_model_t *m, ads_model_signal_fn signal, void *ctx, uint32_t now_us)
{
    memset(m, 0, sizeof *m);
    m->signal = signal;
    m->signal_ctx = ctx;
    m->now_us = now_us;
    m->clkin_hz = 8192000u;
    m->bus.transfer = model_transfer;
    m->bus.delay_us = model_delay;
    m->bus.ctx = m;
    reset_registers(m);
}

uint32_t ads131m04_model_period_us(const ads131m04_model_t *m)
{
    uint32_t f_data_mhz = (uint32_t)((uint64_t)m->clkin_hz * 500u / osr[(m->reg[ADS_REG_CLOCK] >> 2) & 7u]);
    return (uint32_t)(1000000000ull / f_data_mhz); /* CLKIN/2/OSR, in microseconds */
}

static int32_t code_of(float volts, unsigned gain_code)
{
    float full_scale = ADS_VREF_V / (float)(1u << gain_code);
    float code = volts / full_scale * 8388608.0f;
    code += code < 0 ? -0.5f : 0.5f;
    if (code > 8388607.0f)
        return 8388607;
    if (code < -8388608.0f)
        return -8388608;
    return (int32_t)code;
}

static void convert(ads131m04_model_t *m, uint32_t t_us)
{
    float volts[4] = {0, 0, 0, 0};
    int k;
    if (m->signal)
        m->signal(m->signal_ctx, m->conversions, volts);
    m->conversions++;
    if (m->unread)
        m->overwritten++;
    for (k = 0; k < 4; k++) {
        int enabled = (m->reg[ADS_REG_CLOCK] >> (8 + k)) & 1u;
        m->data[k] = enabled ? code_of(volts[k], (m->reg[ADS_REG_GAIN1] >> (4 * k)) & 7u) : 0;
    }
    m->unread = 1;
    m->reg[ADS_REG_STATUS] |= 0x000Fu;
    m->drdy_pending = 1;
    m->drdy_edge_us = t_us;
}

void ads131m04_model_advance(ads131m04_model_t *m, uint32_t now_us)
{
    while (!after(m->next_conversion_us, now_us)) {
        uint32_t t = m->next_conversion_us;
        convert(m, t);
        m->next_conversion_us = t + ads131m04_model_period_us(m);
    }
    m->now_us = now_us;
}

static void put_word(uint8_t *p, uint32_t v24)
{
    p[0] = (uint8_t)(v24 >> 16);
    p[1] = (uint8_t)(v24 >> 8);
    p[2] = (uint8_t)v24;
}

static uint16_t word16(const uint8_t *tx, uint32_t word)
{
    return tx ? (uint16_t)((tx[3 * word] << 8) | tx[3 * word + 1]) : 0;
}

static uint16_t execute(ads131m04_model_t *m, const uint8_t *tx, int *reset)
{
    uint16_t cmd = word16(tx, 0);
    unsigned addr = (cmd >> 7) & 0x3Fu;
    if (cmd == ADS_CMD_NULL)
        return m->reg[ADS_REG_STATUS];
    if (cmd == ADS_CMD_RESET) {
        *reset = 1;
        return ADS_RESET_ACK;
    }
    if ((cmd & 0xE000u) == 0xA000u)
        return m->reg[addr];
    if ((cmd & 0xE000u) == 0x6000u) {
        if (addr >= 2 && addr != ADS_REG_STATUS)
            m->reg[addr] = word16(tx, 1);
        return (uint16_t)ADS_WREG_ACK(addr);
    }
    return cmd; /* STANDBY, WAKEUP, LOCK, UNLOCK echo their command */
}

void ads131m04_model_transfer(ads131m04_model_t *m, const uint8_t *tx, uint8_t *rx, uint32_t n)
{
    uint8_t out[ADS_FRAME_BYTES];
    uint16_t next;
    int k, reset = 0;
    if (n != ADS_FRAME_BYTES) {
        m->bad_frames++;
        if (rx)
            memset(rx, 0, n);
        return;
    }
    put_word(out, (uint32_t)m->response << 8);
    for (k = 0; k < 4; k++)
        put_word(out + 3 * (k + 1), (uint32_t)m->data[k] & 0xFFFFFFu);
    put_word(out + 15, (uint32_t)ss_crc16(out, 15) << 8);
    next = execute(m, tx, &reset); /* tx is read before rx is written: they may alias */
    if (rx)
        memcpy(rx, out, ADS_FRAME_BYTES);
    m->unread = 0;
    m->reg[ADS_REG_STATUS] &= ~0x000Fu;
    m->response = next;
    if (reset)
        reset_registers(m);
}

int ads131m04_model_drdy(ads131m04_model_t *m, uint32_t *edge_us)
{
    if (!m->drdy_pending)
        return 0;
    m->drdy_pending = 0;
    *edge_us = m->drdy_edge_us;
    return 1;
}
