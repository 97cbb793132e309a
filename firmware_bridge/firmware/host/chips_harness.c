/* The chip drivers on the host, against the chip models: a thin C face for the
 * Python tests (tests/test_firmware_drivers.py), built with the host's cc. The
 * test owns time (advance) and the true signal (a callback). */
#include <stdint.h>

#include "../drivers/ads131m04.h"
#include "../drivers/icm42688.h"
#include "../models/ads131m04_model.h"
#include "../models/icm42688_model.h"

/* Every SPI transfer the driver made: its first byte (or command word) and length. */
#define LOG_MAX 4096
static uint32_t log_first[LOG_MAX], log_len[LOG_MAX], log_at_us[LOG_MAX], log_n;
/* No chip on the bus: MISO reads 0 (a pulled-down line). */
static int unplugged;
void bus_unplug(int yes) { unplugged = yes; }

static int absent(uint8_t *rx, size_t n)
{
    size_t i;
    if (!unplugged)
        return 0;
    for (i = 0; rx && i < n; i++)
        rx[i] = 0;
    return 1;
}

static void record(uint32_t first, uint32_t n, uint32_t at_us)
{
    if (log_n < LOG_MAX) {
        log_first[log_n] = first;
        log_len[log_n] = n;
        log_at_us[log_n] = at_us;
        log_n++;
    }
}

uint32_t spi_log(uint32_t *first, uint32_t *len, uint32_t *at_us, uint32_t max)
{
    uint32_t i;
    for (i = 0; i < log_n && i < max; i++) {
        first[i] = log_first[i];
        len[i] = log_len[i];
        at_us[i] = log_at_us[i];
    }
    return log_n;
}

/* --- ICM-42688-P ---------------------------------------------------------- */

static icm42688_model_t icm;
static icm42688_t icm_driver;
static ss_spi_t icm_bus;

static void icm_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    record(tx ? tx[0] : 0, (uint32_t)n, icm.now_us);
    if (!absent(rx, n))
        icm.bus.transfer(ctx, tx, rx, n);
}

void icm_new(icm_model_signal_fn signal, uint32_t now_us)
{
    icm42688_model_init(&icm, signal, 0, now_us);
    icm_bus = icm.bus;
    icm_bus.transfer = icm_transfer;
    log_n = 0;
    unplugged = 0;
}

int icm_init(uint16_t watermark) { return icm42688_init(&icm_driver, &icm_bus, watermark); }
void icm_advance(uint32_t us) { icm42688_model_advance(&icm, icm.now_us + us); }
int icm_int1(uint32_t *edge_us) { return icm42688_model_int1(&icm, edge_us); }
int icm_read(int16_t (*out)[6], int max, int *full) { return icm42688_read_fifo(&icm_driver, out, max, full); }
uint8_t icm_reg(uint8_t addr) { return icm.reg[addr & 0x7Fu]; }
uint32_t icm_ignored_writes(void) { return icm.ignored_writes; }
uint32_t icm_dropped(void) { return icm.dropped; }
uint32_t icm_samples(void) { return icm.samples; }
uint32_t icm_fifo_bytes(void) { return icm.fifo_len; }
uint32_t icm_now(void) { return icm.now_us; }
/* A raw transfer, as a driver would: for the model's own tests. */
void icm_spi(const uint8_t *tx, uint8_t *rx, uint32_t n) { icm42688_model_transfer(&icm, tx, rx, n); }

/* --- ADS131M04 --------------------------------------------------------------- */

static ads131m04_model_t ads;
static ads131m04_t ads_driver;
static ss_spi_t ads_bus;

static void ads_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    record(tx ? (uint32_t)(tx[0] << 8 | tx[1]) : 0, (uint32_t)n, ads.now_us);
    if (!absent(rx, n))
        ads.bus.transfer(ctx, tx, rx, n);
}

void ads_new(ads_model_signal_fn signal, uint32_t now_us)
{
    ads131m04_model_init(&ads, signal, 0, now_us);
    ads_bus = ads.bus;
    ads_bus.transfer = ads_transfer;
    log_n = 0;
    unplugged = 0;
}

int ads_init(const uint8_t gain_code[4]) { return ads131m04_init(&ads_driver, &ads_bus, gain_code); }
void ads_advance(uint32_t us) { ads131m04_model_advance(&ads, ads.now_us + us); }
int ads_drdy(uint32_t *edge_us) { return ads131m04_model_drdy(&ads, edge_us); }
int ads_read(int32_t out[4]) { return ads131m04_read(&ads_driver, out); }
uint16_t ads_reg(uint8_t addr) { return ads.reg[addr & 0x3Fu]; }
uint32_t ads_conversions(void) { return ads.conversions; }
uint32_t ads_overwritten(void) { return ads.overwritten; }
uint32_t ads_crc_errors(void) { return ads_driver.crc_errors; }
uint32_t ads_period_us(void) { return ads131m04_model_period_us(&ads); }
/* Flip one bit of the next frame the model sends (a noisy line). */
static int corrupt_next;
static void ads_noisy_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    ads_transfer(ctx, tx, rx, n);
    if (corrupt_next && rx && n > 5) {
        rx[5] ^= 0x01u;
        corrupt_next = 0;
    }
}
void ads_corrupt_next_frame(void)
{
    corrupt_next = 1;
    ads_bus.transfer = ads_noisy_transfer;
}
