/* The sensor on real hardware: SPI1 (PA5 SCK, PA6 MISO, PA7 MOSI, PA4 chip
 * select) and its interrupt on PA0 (EXTI0), time-stamped in the interrupt.
 * SS_SPI_MODE: 3 for the ICM-42688-P, 1 for the ADS131M04; SS_IRQ_FALLING for
 * the ADS131M04's /DRDY (the ICM-42688-P's INT1 is configured active high). */
#include "bsp.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define GPIOA 0x40020000u
#define SPI1 0x40013000u
#define SPI_CR1 REG(SPI1 + 0x00)
#define SPI_SR REG(SPI1 + 0x08)
#define SPI_DR REG(SPI1 + 0x0C)
#define EXTI 0x40013C00u
#define SYSCFG_EXTICR1 REG(0x40013808u)

#ifndef SS_SPI_MODE
#define SS_SPI_MODE 3
#endif

static volatile uint32_t irq_edge_us;
static volatile int irq_pending;

static void spi_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    size_t i;
    (void)ctx;
    REG(GPIOA + 0x18) = 1u << (4 + 16); /* chip select low */
    for (i = 0; i < n; i++) {
        uint8_t in;
        while (!(SPI_SR & 2u))
            ; /* TXE */
        SPI_DR = tx ? tx[i] : 0;
        while (!(SPI_SR & 1u))
            ; /* RXNE */
        in = (uint8_t)SPI_DR;
        if (rx)
            rx[i] = in;
    }
    while (SPI_SR & (1u << 7))
        ; /* BSY */
    REG(GPIOA + 0x18) = 1u << 4; /* chip select high */
}

static void delay_us(void *ctx, uint32_t us)
{
    uint32_t t0 = bsp_now_us();
    (void)ctx;
    while (bsp_now_us() - t0 < us)
        ;
}

static ss_spi_t bus = {spi_transfer, delay_us, 0};

ss_spi_t *bsp_sensor_bus(void) { return &bus; }

void sensor_init(void)
{
    /* PA4 output (chip select, high), PA5-7 alternate function 5 (SPI1), PA0 input. */
    REG(GPIOA + 0x18) = 1u << 4;
    REG(GPIOA + 0x00) = (REG(GPIOA + 0x00) & ~0xFF03u) | (1u << 8) | (0xA8u << 8);
    REG(GPIOA + 0x20) = (REG(GPIOA + 0x20) & ~0xFFF00000u) | 0x55500000u;
    /* Master, 84 MHz / 2^(BR+1): BR 2 = 10.5 MHz (both chips take more), software NSS. */
    SPI_CR1 = (SS_SPI_MODE & 3u) | (1u << 2) | (2u << 3) | (1u << 8) | (1u << 9);
    SPI_CR1 |= 1u << 6;
    /* EXTI0 from PA0 on the chip's interrupt edge. */
    SYSCFG_EXTICR1 &= ~0xFu;
#ifdef SS_IRQ_FALLING
    REG(EXTI + 0x0C) |= 1u; /* FTSR */
#else
    REG(EXTI + 0x08) |= 1u; /* RTSR */
#endif
    REG(EXTI + 0x00) |= 1u; /* IMR */
    REG(0xE000E100u) = 1u << 6; /* NVIC: EXTI0 */
}

void exti0_handler(void)
{
    irq_edge_us = bsp_now_us(); /* the sample instant, first thing */
    REG(EXTI + 0x14) = 1u;      /* PR: clear */
    irq_pending = 1;
}

int bsp_sensor_irq(uint32_t *edge_us)
{
    if (!irq_pending)
        return 0;
    __asm__ volatile("cpsid i");
    *edge_us = irq_edge_us;
    irq_pending = 0;
    __asm__ volatile("cpsie i");
    return 1;
}
