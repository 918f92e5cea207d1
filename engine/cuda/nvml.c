/* engine/cuda/nvml.c — the few NVML entry points membench uses, resolved with dlsym. The types are
 * declared here from NVML's documented ABI so that building needs no NVML headers. */
#include "nvml.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *nvml_device;
typedef struct nvml_memory { /* nvmlMemory_t */
    unsigned long long total, free, used;
} nvml_memory;
typedef struct nvml_process { /* nvmlProcessInfo_v2_t (the _v3 process query) */
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id, compute_instance_id;
} nvml_process;

struct mb_nvml {
    void *lib;
    nvml_device dev;
    int (*shutdown)(void);
    int (*memory)(nvml_device, nvml_memory *);
    int (*processes)(nvml_device, unsigned int *, nvml_process *);
    int (*driver)(char *, unsigned int);
    int (*uuid)(nvml_device, char *, unsigned int);
};

mb_nvml *mb_nvml_open(const char *pci_bus_id) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    int (*by_bus)(const char *, nvml_device *) =
        (int (*)(const char *, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    mb_nvml *n = calloc(1, sizeof *n);
    if (!n || !init || !by_bus || init() != 0) {
        free(n);
        dlclose(lib);
        return NULL;
    }
    n->lib = lib;
    n->shutdown = (int (*)(void))dlsym(lib, "nvmlShutdown");
    n->memory = (int (*)(nvml_device, nvml_memory *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    n->processes = (int (*)(nvml_device, unsigned int *, nvml_process *))dlsym(
        lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    n->driver = (int (*)(char *, unsigned int))dlsym(lib, "nvmlSystemGetDriverVersion");
    n->uuid = (int (*)(nvml_device, char *, unsigned int))dlsym(lib, "nvmlDeviceGetUUID");
    if (by_bus(pci_bus_id, &n->dev) != 0 || !n->memory) {
        mb_nvml_close(n);
        return NULL;
    }
    return n;
}

void mb_nvml_close(mb_nvml *n) {
    if (!n) return;
    if (n->shutdown) n->shutdown();
    dlclose(n->lib);
    free(n);
}

int mb_nvml_used(mb_nvml *n, size_t *used, int *per_process) {
    if (n->processes) {
        nvml_process procs[64];
        unsigned int count = 64;
        if (n->processes(n->dev, &count, procs) == 0) {
            unsigned int me = (unsigned int)getpid();
            for (unsigned int i = 0; i < count && i < 64; i++) {
                if (procs[i].pid == me && procs[i].used_gpu_memory != ~0ULL) {
                    *used = (size_t)procs[i].used_gpu_memory;
                    *per_process = 1;
                    return 0;
                }
            }
        }
    }
    nvml_memory m;
    if (n->memory(n->dev, &m) != 0) return -1;
    *used = (size_t)m.used;
    *per_process = 0;
    return 0;
}

void mb_nvml_ids(mb_nvml *n, char *driver, size_t ndriver, char *uuid, size_t nuuid) {
    if (ndriver) driver[0] = 0;
    if (nuuid) uuid[0] = 0;
    if (n->driver && n->driver(driver, (unsigned int)ndriver) != 0 && ndriver) driver[0] = 0;
    if (n->uuid && n->uuid(n->dev, uuid, (unsigned int)nuuid) != 0 && nuuid) uuid[0] = 0;
}
