/* STM32F4 board support (see bsp.h). Register names and bits from the STM32F4
 * reference manuals (RM0090 for the F405, RM0368 for the F401). */
#include "bsp.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC 0x40023800u
#define RCC_CR REG(RCC + 0x00)
#define RCC_PLLCFGR REG(RCC + 0x04)
#define RCC_CFGR REG(RCC + 0x08)
#define RCC_AHB1ENR REG(RCC + 0x30)
#define RCC_APB1ENR REG(RCC + 0x40)
#define RCC_APB2ENR REG(RCC + 0x44)
#define FLASH_ACR REG(0x40023C00u)

#define GPIOA 0x40020000u
#define GPIO_MODER(g) REG((g) + 0x00)
#define GPIO_OSPEEDR(g) REG((g) + 0x08)
#define GPIO_PUPDR(g) REG((g) + 0x0C)
#define GPIO_BSRR(g) REG((g) + 0x18)
#define GPIO_AFRL(g) REG((g) + 0x20)

#define USART2 0x40004400u
#define USART_SR REG(USART2 + 0x00)
#define USART_DR REG(USART2 + 0x04)
#define USART_BRR REG(USART2 + 0x08)
#define USART_CR1 REG(USART2 + 0x0C)
#define SR_TXE (1u << 7)
#define SR_RXNE (1u << 5)
#define SR_ORE (1u << 3)
#define CR1_UE (1u << 13)
#define CR1_TXEIE (1u << 7)
#define CR1_RXNEIE (1u << 5)
#define CR1_TE (1u << 3)
#define CR1_RE (1u << 2)

#define TIM2 0x40000000u
#define TIM_CR1(t) REG((t) + 0x00)
#define TIM_EGR(t) REG((t) + 0x14)
#define TIM_CNT(t) REG((t) + 0x24)
#define TIM_PSC(t) REG((t) + 0x28)
#define TIM_ARR(t) REG((t) + 0x2C)

#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define NVIC_ISER(n) REG(0xE000E100u + 4u * (n))

#define UID_BASE 0x1FFF7A10u /* 96-bit unique device id (F401, F405, F411, F446) */

#ifdef SS_EMULATED
/* QEMU's netduinoplus2: the CPU runs at 168 MHz (SysTick's processor clock) and
 * its STM32F2xx timer model counts at 1 GHz before the prescaler. */
#define CPU_HZ 168000000u
#define TIM2_HZ 1000000000u
#else
#define CPU_HZ 84000000u
#define TIM2_HZ 84000000u /* APB1 at 42 MHz, timers at twice that */
#endif
#define UART_BAUD 921600u
#define APB1_HZ (CPU_HZ / 2u)

/* --- byte queues between the main loop and the UART interrupt ------------- */

#define TX_BYTES 4096u /* ~0.3 s of an IMU's frames at 1 kHz */
#define RX_BYTES 256u
static uint8_t tx_buf[TX_BYTES], rx_buf[RX_BYTES];
static volatile uint32_t tx_head, tx_tail, rx_head, rx_tail; /* free-running */

/* Only one context moves bytes to the UART, or the queue's tail could be written
 * back to an older value and frames sent twice: the TXE interrupt on hardware,
 * the main loop under QEMU (whose USART model raises no TXE interrupt and sends
 * each byte as it is written). */
static void drain(void)
{
    while (tx_tail != tx_head && (USART_SR & SR_TXE)) {
        USART_DR = tx_buf[tx_tail % TX_BYTES];
        tx_tail++;
    }
}

void bsp_uart_pump(void)
{
#ifdef SS_EMULATED
    drain();
#else
    __asm__ volatile("cpsid i");
    if (tx_tail != tx_head)
        USART_CR1 |= CR1_TXEIE;
    __asm__ volatile("cpsie i");
#endif
}

size_t bsp_uart_write(const uint8_t *data, size_t n)
{
    uint32_t head = tx_head, i;
    if (n > TX_BYTES - (head - tx_tail))
        return 0; /* never wait for the port: the caller counts what it dropped */
    for (i = 0; i < n; i++)
        tx_buf[(head + i) % TX_BYTES] = data[i];
    tx_head = head + (uint32_t)n;
    return n;
}

int bsp_uart_read(void)
{
    int byte;
    if (rx_tail == rx_head)
        return -1;
    byte = rx_buf[rx_tail % RX_BYTES];
    rx_tail++;
    return byte;
}

void usart2_handler(void)
{
    uint32_t sr = USART_SR;
    if (sr & (SR_RXNE | SR_ORE)) {
        uint8_t byte = (uint8_t)USART_DR; /* reading DR clears RXNE and ORE */
        if (rx_head - rx_tail < RX_BYTES) {
            rx_buf[rx_head % RX_BYTES] = byte;
            rx_head++;
        } /* else: a command byte lost; the host repeats unanswered commands */
    }
#ifndef SS_EMULATED
    drain();
    if (tx_tail == tx_head)
        USART_CR1 &= ~CR1_TXEIE;
#endif
}

/* --- clocks ------------------------------------------------------------------ */

static void clock_init(void)
{
#ifndef SS_EMULATED
    /* 84 MHz from the 8 MHz the Nucleo's ST-LINK feeds to OSC_IN (its crystal's
     * MCO, HSE in bypass mode): a clock good to tens of ppm, where the internal RC
     * oscillator (HSI) is only good to 1 %. PLLM 8, PLLN 336, PLLP 4 (PLLQ 7 for a
     * 48 MHz USB clock); valid on the F401 (84 MHz top), F411 and F446. */
    RCC_CR |= (1u << 18) | (1u << 16); /* HSEBYP, HSEON */
    while (!(RCC_CR & (1u << 17)))
        ;                              /* HSERDY */
    FLASH_ACR = (1u << 8) | (1u << 9) | (1u << 10) | 2u; /* prefetch, caches, 2 wait states */
    RCC_PLLCFGR = 8u | (336u << 6) | (1u << 16) | (1u << 22) | (7u << 24); /* source HSE */
    RCC_CR |= 1u << 24; /* PLLON */
    while (!(RCC_CR & (1u << 25)))
        ;
    RCC_CFGR = (4u << 10) | 2u; /* APB1 = HCLK / 2, system clock = PLL */
    while ((RCC_CFGR & (3u << 2)) != (2u << 2))
        ;
#endif
    RCC_AHB1ENR |= 1u;                  /* GPIOA */
    RCC_APB1ENR |= (1u << 0) | (1u << 17); /* TIM2, USART2 */
    RCC_APB2ENR |= (1u << 12) | (1u << 14); /* SPI1, SYSCFG */
}

static void timer_init(void)
{
    /* TIM2, 32 bits, free-running at 1 MHz: the MCU clock of every time stamp. */
    TIM_PSC(TIM2) = TIM2_HZ / 1000000u - 1u;
    TIM_ARR(TIM2) = 0xFFFFFFFFu;
    TIM_EGR(TIM2) = 1u; /* load the prescaler now */
    TIM_CNT(TIM2) = 0;
    TIM_CR1(TIM2) = 1u;
    /* SysTick at 1 kHz wakes the main loop at least every millisecond. */
    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

static void uart_init(void)
{
#ifndef SS_EMULATED
    /* PA2 = USART2_TX, PA3 = USART2_RX: alternate function 7. */
    GPIO_MODER(GPIOA) = (GPIO_MODER(GPIOA) & ~(0xFu << 4)) | (0xAu << 4);
    GPIO_AFRL(GPIOA) = (GPIO_AFRL(GPIOA) & ~(0xFFu << 8)) | (0x77u << 8);
#endif
    /* 16x oversampling: BRR = f / baud with four bits of fraction. */
    USART_BRR = (APB1_HZ + UART_BAUD / 2u) / UART_BAUD;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE;
    NVIC_ISER(38u / 32u) = 1u << (38u % 32u);
}

void systick_handler(void)
{
    /* Nothing to do: the interrupt itself wakes the main loop from bsp_idle(). */
}

uint32_t bsp_now_us(void)
{
    return TIM_CNT(TIM2);
}

uint64_t bsp_device_id(void)
{
#ifdef SS_EMULATED
    return SS_EMULATED_DEVICE_ID; /* QEMU maps no unique-id area */
#else
    /* Wafer x/y, wafer and lot number: fold the 96 bits into 64. */
    uint32_t w0 = REG(UID_BASE), w1 = REG(UID_BASE + 4u), w2 = REG(UID_BASE + 8u);
    return ((uint64_t)(w1 ^ w2) << 32) | w0;
#endif
}

void bsp_idle(void)
{
    __asm__ volatile("wfi");
}

void sensor_init(void); /* sensor_spi.c or sensor_model.c */

void bsp_init(void)
{
    clock_init();
    timer_init();
    uart_init();
    sensor_init();
    __asm__ volatile("cpsie i");
}
