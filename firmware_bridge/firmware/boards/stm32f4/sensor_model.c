/* The sensor in the emulator (SS_EMULATED): QEMU has no model of our chips, so
 * the register-level chip model of models/ sits behind the same SPI interface
 * and the real driver talks to it. The chip's interrupt is emulated at its own
 * instant: the model is run one sample at a time up to the MCU clock, and each
 * interrupt edge is handed over with the time it happened, as the EXTI handler
 * of sensor_spi.c does on real hardware.
 *
 * The synthetic signal is a different sawtooth on every channel, a function of
 * the sample index only (synthetic_code), so the host can check that every
 * sample arrived in its place. */
#include "bsp.h"

#if defined(SS_MODEL_ICM42688)
#include "../../models/icm42688_model.h"
typedef icm42688_model_t model_t;
#define MODEL_INIT icm42688_model_init
#define MODEL_ADVANCE icm42688_model_advance
#define MODEL_TRANSFER icm42688_model_transfer
#define MODEL_IRQ icm42688_model_int1
#define MODEL_NEXT(m) ((m)->sampling ? (m)->next_sample_us : bsp_now_us() + 1000u)
#elif defined(SS_MODEL_ADS131M04)
#include "../../models/ads131m04_model.h"
typedef ads131m04_model_t model_t;
#define MODEL_INIT ads131m04_model_init
#define MODEL_ADVANCE ads131m04_model_advance
#define MODEL_TRANSFER ads131m04_model_transfer
#define MODEL_IRQ ads131m04_model_drdy
#define MODEL_NEXT(m) ((m)->next_conversion_us)
#else
#error "an emulated build names its chip model: SS_MODEL_ICM42688 or SS_MODEL_ADS131M04"
#endif

static model_t chip;

/* The sawtooth of channel c (chip order) at sample i, in codes: the same formula
 * is in tests/firmware_helpers.py. */
static int32_t synthetic_code(uint32_t i, unsigned c, int32_t half_range)
{
    uint32_t span = 2u * (uint32_t)half_range;
    return (int32_t)((i * (7u * c + 3u)) % span) - half_range;
}

#if defined(SS_MODEL_ICM42688)
static void signal(void *ctx, uint32_t i, float gyro_dps[3], float accel_g[3])
{
    unsigned k;
    (void)ctx;
    for (k = 0; k < 3; k++) {
        accel_g[k] = (float)synthetic_code(i, k, 30000) / 2048.0f;
        gyro_dps[k] = (float)synthetic_code(i, k + 3u, 30000) / 16.4f;
    }
}
#else
static void signal(void *ctx, uint32_t i, float volts[4])
{
    unsigned k;
    (void)ctx;
    for (k = 0; k < 4; k++)
        volts[k] = (float)synthetic_code(i, k, 4000000) * (1.2f / 8388608.0f);
}
#endif

static void transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    (void)ctx;
    MODEL_TRANSFER(&chip, tx, rx, (uint32_t)n);
}

static void delay_us(void *ctx, uint32_t us)
{
    uint32_t t0 = bsp_now_us();
    (void)ctx;
    while (bsp_now_us() - t0 < us)
        ;
    MODEL_ADVANCE(&chip, chip.now_us + us);
}

static ss_spi_t bus = {transfer, delay_us, 0};

ss_spi_t *bsp_sensor_bus(void) { return &bus; }

void sensor_init(void)
{
    MODEL_INIT(&chip, signal, 0, bsp_now_us());
}

int bsp_sensor_irq(uint32_t *edge_us)
{
    uint32_t now = bsp_now_us();
    for (;;) {
        uint32_t next = MODEL_NEXT(&chip);
        if (MODEL_IRQ(&chip, edge_us))
            return 1;
        if ((int32_t)(next - now) > 0) {
            MODEL_ADVANCE(&chip, now);
            return MODEL_IRQ(&chip, edge_us);
        }
        MODEL_ADVANCE(&chip, next); /* one sample: its interrupt is served at its time */
    }
}
