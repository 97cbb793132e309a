/* TI ADS131M04, four simultaneous 24-bit delta-sigma channels on SPI: the
 * commands, registers and bits the driver and the chip model use. From the
 * datasheet SBAS890 (sections 8.5 and 8.6). Words are 24 bits (the reset
 * WLENGTH); a frame is a command word, four channel words and a CRC word. */
#ifndef ADS131M04_REGS_H
#define ADS131M04_REGS_H

#define ADS_CMD_NULL 0x0000u
#define ADS_CMD_RESET 0x0011u
#define ADS_CMD_STANDBY 0x0022u
#define ADS_CMD_WAKEUP 0x0033u
#define ADS_CMD_RREG(addr) (0xA000u | ((unsigned)(addr) << 7)) /* one register */
#define ADS_CMD_WREG(addr) (0x6000u | ((unsigned)(addr) << 7)) /* one register */
#define ADS_WREG_ACK(addr) (0x4000u | ((unsigned)(addr) << 7))
#define ADS_RESET_ACK 0xFF24u /* the response to RESET on a four-channel part */

#define ADS_REG_ID 0x00u     /* 0x24xx */
#define ADS_REG_STATUS 0x01u /* bits 3:0 DRDY per channel, 9:8 WLENGTH, 10 RESET */
#define ADS_REG_MODE 0x02u   /* reset 0x0510 */
#define ADS_REG_CLOCK 0x03u  /* bits 11:8 channel enables, 4:2 OSR, 1:0 power mode */
#define ADS_REG_GAIN1 0x04u  /* PGA gain code of channel k in bits 4k+2..4k */

#define ADS_CLOCK_ALL_CHANNELS (0xFu << 8)
#define ADS_CLOCK_OSR(code) ((unsigned)(code) << 2)
#define ADS_CLOCK_HIGH_RESOLUTION 0x2u
#define ADS_OSR_4096 5u /* 8.192 MHz CLKIN / 2 / 4096 = 1 kSPS */

#define ADS_WORD_BYTES 3u
#define ADS_FRAME_WORDS 6u
#define ADS_FRAME_BYTES (ADS_WORD_BYTES * ADS_FRAME_WORDS)
#define ADS_VREF_V 1.2f /* full scale +-1.2 V / gain over 2^23 codes */

#endif
