/* ICM-42688-P model (see icm42688_model.h). What it holds to, from the datasheet:
 * reset values; a soft reset that makes the chip deaf for 1 ms; no register
 * write taken within 200 us of turning the sensors on; INT1 silent while
 * INT_CONFIG1.INT_ASYNC_RESET is 1 (its reset value); samples at the ODR only
 * with both sensors in low-noise mode; FIFO packet 3 with the endianness of
 * INTF_CONFIG0; FIFO count in bytes or records; a watermark interrupt on the
 * crossing; stop-on-full or stream (oldest dropped) when the 2 KiB FIFO is full;
 * FIFO flush; INT_STATUS cleared on read; SPI reads auto-increment except on
 * FIFO_DATA, which pops. Only user bank 0 is modelled. */
#include "icm42688_model.h"

#include <string.h>

#include "../drivers/icm42688_regs.h"

static const uint32_t odr_period_us[16] = {
    0, 31, 62, 125, 250, 500, 1000, 5000, 10000, 20000, 40000, 80000, 0, 0, 0, 2000,
};
static const float gyro_lsb_per_dps[8] = {16.4f, 32.8f, 65.5f, 131.0f, 262.0f, 524.3f, 1048.6f, 2097.2f};
static const float accel_lsb_per_g[4] = {2048.0f, 4096.0f, 8192.0f, 16384.0f};

static int after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static void reset_registers(icm42688_model_t *m)
{
    memset(m->reg, 0, sizeof m->reg);
    m->reg[ICM_INT_CONFIG] = 0x00;
    m->reg[ICM_INT_STATUS] = ICM_INT_STATUS_RESET_DONE;
    m->reg[ICM_INTF_CONFIG0] = 0x30;
    m->reg[ICM_GYRO_CONFIG0] = 0x06;
    m->reg[ICM_ACCEL_CONFIG0] = 0x06;
    m->reg[ICM_INT_CONFIG1] = 0x10;
    m->reg[ICM_INT_SOURCE0] = 0x10;
    m->reg[ICM_WHO_AM_I] = ICM_WHO_AM_I_VALUE;
    m->fifo_start = m->fifo_len = 0;
    m->sampling = 0;
    m->int1_pending = 0;
}

static void model_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    icm42688_model_transfer((icm42688_model_t *)ctx, tx, rx, (uint32_t)n);
}

static void model_delay(void *ctx, uint32_t us)
{
    icm42688_model_t *m = ctx;
    icm42688_model_advance(m, m->now_us + us);
}

void icm42688_model_init(icm42688_model_t *m, icm_model_signal_fn signal, void *ctx, uint32_t now_us)
{
    memset(m, 0, sizeof *m);
    m->signal = signal;
    m->signal_ctx = ctx;
    m->now_us = now_us;
    m->bus.transfer = model_transfer;
    m->bus.delay_us = model_delay;
    m->bus.ctx = m;
    reset_registers(m);
}

uint32_t icm42688_model_period_us(const icm42688_model_t *m)
{
    return odr_period_us[m->reg[ICM_GYRO_CONFIG0] & 0x0Fu];
}

static int16_t quantise(float value, float lsb_per_unit)
{
    float raw = value * lsb_per_unit;
    raw += raw < 0 ? -0.5f : 0.5f;
    if (raw > 32767.0f)
        return 32767;
    if (raw < -32767.0f)
        return -32767; /* -32768 is the chip's "invalid sample" */
    return (int16_t)raw;
}

static void put16(uint8_t *p, int16_t v, int big_endian)
{
    uint16_t u = (uint16_t)v;
    p[big_endian ? 0 : 1] = (uint8_t)(u >> 8);
    p[big_endian ? 1 : 0] = (uint8_t)u;
}

static uint32_t fifo_count(const icm42688_model_t *m)
{
    return (m->reg[ICM_INTF_CONFIG0] & 0x40u) ? m->fifo_len / ICM_PACKET_BYTES : m->fifo_len;
}

static uint32_t watermark(const icm42688_model_t *m)
{
    return m->reg[ICM_FIFO_CONFIG2] | ((uint32_t)(m->reg[ICM_FIFO_CONFIG3] & 0x0Fu) << 8);
}

static void raise_int1(icm42688_model_t *m, uint8_t status_bit, uint32_t t_us)
{
    m->reg[ICM_INT_STATUS] |= status_bit;
    if (m->reg[ICM_INT_CONFIG1] & 0x10u)
        return; /* INT_ASYNC_RESET left at 1: the pin does not work */
    if (!(m->reg[ICM_INT_SOURCE0] & (status_bit == ICM_INT_STATUS_FIFO_THS ? 0x04u : 0x02u)))
        return;
    m->int1_pending = 1;
    m->int1_edge_us = t_us;
}

static void push_packet(icm42688_model_t *m, uint32_t t_us)
{
    uint8_t p[ICM_PACKET_BYTES];
    float gyro[3] = {0, 0, 0}, accel[3] = {0, 0, 0};
    int big = (m->reg[ICM_INTF_CONFIG0] & 0x10u) != 0, i;
    uint32_t mode = m->reg[ICM_FIFO_CONFIG] >> 6, before = fifo_count(m), wm = watermark(m);
    float g_lsb = gyro_lsb_per_dps[m->reg[ICM_GYRO_CONFIG0] >> 5];
    float a_lsb = accel_lsb_per_g[(m->reg[ICM_ACCEL_CONFIG0] >> 5) & 3u];
    if (m->signal)
        m->signal(m->signal_ctx, m->samples, gyro, accel);
    m->samples++;
    if (mode == 0 || (m->reg[ICM_FIFO_CONFIG1] & 0x03u) != 0x03u)
        return; /* bypass, or not both sensors in the FIFO (only packet 3 is modelled) */
    p[0] = ICM_HEADER_PACKET3;
    for (i = 0; i < 3; i++) {
        put16(p + 1 + 2 * i, quantise(accel[i], a_lsb), big);
        put16(p + 7 + 2 * i, quantise(gyro[i], g_lsb), big);
    }
    p[13] = 0; /* 25 degC */
    put16(p + 14, (int16_t)(t_us & 0xFFFFu), big);
    if (m->fifo_len + ICM_PACKET_BYTES > ICM_FIFO_BYTES) {
        m->dropped++;
        raise_int1(m, ICM_INT_STATUS_FIFO_FULL, t_us);
        if (mode != 1)
            return; /* stop on full: the new packet is lost */
        m->fifo_start = (m->fifo_start + ICM_PACKET_BYTES) % ICM_FIFO_BYTES; /* stream: the oldest */
        m->fifo_len -= ICM_PACKET_BYTES;
    }
    for (i = 0; i < (int)ICM_PACKET_BYTES; i++)
        m->fifo[(m->fifo_start + m->fifo_len + (uint32_t)i) % ICM_FIFO_BYTES] = p[i];
    m->fifo_len += ICM_PACKET_BYTES;
    if (wm && before < wm && fifo_count(m) >= wm)
        raise_int1(m, ICM_INT_STATUS_FIFO_THS, t_us);
}

void icm42688_model_advance(icm42688_model_t *m, uint32_t now_us)
{
    uint32_t period = icm42688_model_period_us(m);
    while (m->sampling && period && !after(m->next_sample_us, now_us)) {
        push_packet(m, m->next_sample_us);
        m->next_sample_us += period;
    }
    m->now_us = now_us;
}

static void write_reg(icm42688_model_t *m, uint8_t addr, uint8_t value)
{
    if (after(m->no_write_until_us, m->now_us)) {
        m->ignored_writes++;
        return;
    }
    if (addr == ICM_DEVICE_CONFIG && (value & 1u)) {
        reset_registers(m);
        m->busy_until_us = m->now_us + ICM_RESET_US;
        return;
    }
    if (addr == ICM_SIGNAL_PATH_RESET && (value & ICM_FIFO_FLUSH)) {
        m->fifo_start = m->fifo_len = 0;
        return;
    }
    if (addr == ICM_INT_STATUS || addr == ICM_WHO_AM_I || (addr >= ICM_FIFO_COUNTH && addr <= ICM_FIFO_DATA))
        return; /* read-only */
    m->reg[addr] = value;
    if (addr == ICM_PWR_MGMT0) {
        int on = (value & 0x0Fu) == 0x0Fu;
        if (on && !m->sampling) {
            m->next_sample_us = m->now_us + icm42688_model_period_us(m);
            m->no_write_until_us = m->now_us + ICM_POWER_ON_US;
        }
        m->sampling = on;
    }
}

static uint8_t read_reg(icm42688_model_t *m, uint8_t addr)
{
    uint8_t v;
    if (addr == ICM_FIFO_DATA) {
        if (m->fifo_len == 0)
            return 0xFF; /* header with HEADER_MSG set: empty */
        v = m->fifo[m->fifo_start];
        m->fifo_start = (m->fifo_start + 1u) % ICM_FIFO_BYTES;
        m->fifo_len--;
        return v;
    }
    if (addr == ICM_FIFO_COUNTH || addr == ICM_FIFO_COUNTL) {
        uint32_t c = fifo_count(m);
        int big = (m->reg[ICM_INTF_CONFIG0] & 0x20u) != 0;
        int high = (addr == ICM_FIFO_COUNTH) == big;
        return (uint8_t)(high ? c >> 8 : c);
    }
    v = m->reg[addr];
    if (addr == ICM_INT_STATUS)
        m->reg[addr] = 0;
    return v;
}

void icm42688_model_transfer(icm42688_model_t *m, const uint8_t *tx, uint8_t *rx, uint32_t n)
{
    uint8_t cmd = (n && tx) ? tx[0] : 0, addr = cmd & 0x7Fu;
    int reading = (cmd & 0x80u) != 0, deaf = after(m->busy_until_us, m->now_us);
    uint32_t i;
    if (n && rx)
        rx[0] = 0;
    if (n > 1 && deaf && !reading)
        m->ignored_writes++; /* a write during the reset's 1 ms */
    for (i = 1; i < n; i++) { /* tx and rx may be the same buffer */
        uint8_t in = tx ? tx[i] : 0, out = 0;
        if (!deaf && reading)
            out = read_reg(m, addr);
        else if (!deaf)
            write_reg(m, addr, in);
        if (rx)
            rx[i] = out;
        if (addr != ICM_FIFO_DATA)
            addr = (uint8_t)((addr + 1u) & 0x7Fu);
    }
}

int icm42688_model_int1(icm42688_model_t *m, uint32_t *edge_us)
{
    if (!m->int1_pending)
        return 0;
    m->int1_pending = 0;
    *edge_us = m->int1_edge_us;
    return 1;
}
