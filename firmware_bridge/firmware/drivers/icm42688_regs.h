/* TDK InvenSense ICM-42688-P, user bank 0: the registers and bits the driver and
 * the chip model use. From the datasheet DS-000347 (rev. 1.8), section 14. */
#ifndef ICM42688_REGS_H
#define ICM42688_REGS_H

#define ICM_DEVICE_CONFIG 0x11u   /* bit 0 SOFT_RESET_CONFIG; wait 1 ms after it */
#define ICM_INT_CONFIG 0x14u      /* INT1: bit 2 latched, bit 1 push-pull, bit 0 active high */
#define ICM_FIFO_CONFIG 0x16u     /* bits 7:6 FIFO_MODE: 00 bypass, 01 stream, 1x stop on full */
#define ICM_INT_STATUS 0x2Du      /* cleared on read */
#define ICM_FIFO_COUNTH 0x2Eu
#define ICM_FIFO_COUNTL 0x2Fu
#define ICM_FIFO_DATA 0x30u
#define ICM_SIGNAL_PATH_RESET 0x4Bu /* bit 1 FIFO_FLUSH */
#define ICM_INTF_CONFIG0 0x4Cu    /* bit 6 count in records, bit 5 count big-endian, bit 4 data big-endian */
#define ICM_PWR_MGMT0 0x4Eu       /* bits 3:2 gyro mode, 1:0 accel mode; 11 = low noise */
#define ICM_GYRO_CONFIG0 0x4Fu    /* bits 7:5 full scale (000 = 2000 dps), 3:0 ODR (0110 = 1 kHz) */
#define ICM_ACCEL_CONFIG0 0x50u   /* bits 7:5 full scale (000 = 16 g), 3:0 ODR */
#define ICM_FIFO_CONFIG1 0x5Fu    /* bit 2 temperature, bit 1 gyro, bit 0 accel into the FIFO */
#define ICM_FIFO_CONFIG2 0x60u    /* watermark, bits 7:0 */
#define ICM_FIFO_CONFIG3 0x61u    /* watermark, bits 11:8 */
#define ICM_INT_CONFIG1 0x64u     /* bit 4 INT_ASYNC_RESET: must be 0 for the INT pins to work */
#define ICM_INT_SOURCE0 0x65u     /* bit 2 FIFO threshold -> INT1, bit 1 FIFO full -> INT1 */
#define ICM_WHO_AM_I 0x75u
#define ICM_REG_BANK_SEL 0x76u

#define ICM_WHO_AM_I_VALUE 0x47u
#define ICM_INT_STATUS_RESET_DONE 0x10u
#define ICM_INT_STATUS_FIFO_THS 0x04u
#define ICM_INT_STATUS_FIFO_FULL 0x02u
#define ICM_FIFO_FLUSH 0x02u

#define ICM_FIFO_BYTES 2048u
#define ICM_PACKET_BYTES 16u /* packet 3: header, accel 6, gyro 6, temperature 1, time 2 */
#define ICM_HEADER_EMPTY 0x80u
#define ICM_HEADER_ACCEL_GYRO 0x60u
#define ICM_HEADER_PACKET3 0x68u /* accel, gyro, ODR time stamp */

#define ICM_RESET_US 1000u    /* soft reset: no access for 1 ms */
#define ICM_POWER_ON_US 200u  /* after turning sensors on: no register write for 200 us */

#endif
