/* Board support for STM32F4 sensor nodes: clock, UART, MCU time, SPI, sensor IRQ.
 *
 * Two builds of the same board:
 *  - real (Nucleo-F401RE/F411RE/F446RE): 84 MHz through the PLL from the 8 MHz
 *    that the board's ST-LINK feeds to OSC_IN,
 *    USART2 on PA2/PA3 (the ST-LINK's virtual COM port, /dev/ttyACM0 on the Pi),
 *    SPI1 on PA5/PA6/PA7 with chip select PA4, the sensor's interrupt on PA0.
 *  - emulated (SS_EMULATED, QEMU's netduinoplus2, an STM32F405): QEMU has no
 *    clock tree, GPIO or unique-id area, so those are skipped; the sensor is the
 *    register-level chip model of models/ behind the same SPI interface.
 */
#ifndef SS_BSP_H
#define SS_BSP_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/ss_bus.h"

void bsp_init(void);
/* The MCU clock: a free-running 32-bit timer counting microseconds. */
uint32_t bsp_now_us(void);
/* 64 bits of the chip's 96-bit unique id (a build constant when emulated). */
uint64_t bsp_device_id(void);
/* Queue n bytes for the host, all or nothing: 0 when the queue has no room. */
size_t bsp_uart_write(const uint8_t *data, size_t n);
/* Have queued bytes sent (never waits): called by the main loop. */
void bsp_uart_pump(void);
/* The next byte from the host, or -1. */
int bsp_uart_read(void);
/* Sleep until an interrupt (the 1 kHz tick at the latest). */
void bsp_idle(void);
/* The sensor chip's SPI bus, and its data-ready/FIFO interrupt: returns 1 and the
 * MCU time of the interrupt's edge when one happened since the last call. */
ss_spi_t *bsp_sensor_bus(void);
int bsp_sensor_irq(uint32_t *edge_us);

#endif
