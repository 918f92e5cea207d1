/* engine/cuda/nvml.h — NVML loaded with dlopen at run time (no link-time dependency): device memory
 * in use, per process where the driver lists it, plus the driver version and UUID for provenance. */
#ifndef MB_NVML_H
#define MB_NVML_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_nvml mb_nvml;

/* Opens NVML for the device with this PCI bus id ("0000:3B:00.0"); NULL when libnvidia-ml is absent
 * or does not know the device. */
mb_nvml *mb_nvml_open(const char *pci_bus_id);
void mb_nvml_close(mb_nvml *n);
/* Bytes in use: this process's if NVML lists it (*per_process = 1), else the whole device's.
 * Returns 0 on success. */
int mb_nvml_used(mb_nvml *n, size_t *used, int *per_process);
/* Driver version and device UUID ("" when unknown). */
void mb_nvml_ids(mb_nvml *n, char *driver, size_t ndriver, char *uuid, size_t nuuid);

#ifdef __cplusplus
}
#endif

#endif
