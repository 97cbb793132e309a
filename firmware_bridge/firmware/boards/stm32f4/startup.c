/* Cortex-M4 start-up for the STM32F4: vector table, .data/.bss, FPU, main. */
#include <stdint.h>
#include <string.h>

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_top;
extern int main(void);

void reset_handler(void);
void default_handler(void);

/* Handlers the board uses; anything else lands in default_handler. */
void systick_handler(void) __attribute__((weak, alias("default_handler")));
void exti0_handler(void) __attribute__((weak, alias("default_handler")));
void usart2_handler(void) __attribute__((weak, alias("default_handler")));

#define N_IRQ 86 /* STM32F405/F446 external interrupts (F401 has fewer; unused ones stay default) */

__attribute__((section(".vectors"), used)) static void (*const vectors[16 + N_IRQ])(void) = {
    [0] = (void (*)(void))(&_stack_top),
    [1] = reset_handler,
    [2 ... 14] = default_handler,
    [15] = systick_handler,
    [16 ... 16 + 5] = default_handler,
    [16 + 6] = exti0_handler,
    [16 + 7 ... 16 + 37] = default_handler,
    [16 + 38] = usart2_handler,
    [16 + 39 ... 16 + N_IRQ - 1] = default_handler,
};

void reset_handler(void)
{
    memcpy(&_data_start, &_data_load, (size_t)((char *)&_data_end - (char *)&_data_start));
    memset(&_bss_start, 0, (size_t)((char *)&_bss_end - (char *)&_bss_start));
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10/CP11 (FPU) */
    __asm__ volatile("dsb\n isb");
    main();
    for (;;)
        ;
}

void default_handler(void)
{
    for (;;)
        ; /* an unexpected fault or interrupt: the watchdog-less node stops here */
}
