#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generates the fake hosts under tests/data/hosts/<name>/{sys,proc}.

Each tree mirrors the real sysfs layout for the files winvmd reads (see
daemon/wv-host.c): CPU topology and caches, NUMA nodes, PCI devices with
their driver and IOMMU group links, IOMMU groups, hugepage pools; plus
proc/mounts and proc/meminfo. Links are relative, like the kernel's.

The output is deterministic: every tree is deleted and rebuilt from scratch.
Run it as tests/data/hosts/make-trees.py and commit the result.
"""

import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

MEMINFO = """MemTotal:       {mem_kib} kB
MemFree:        {free_kib} kB
MemAvailable:   {free_kib} kB
HugePages_Total:    {hp_total}
HugePages_Free:     {hp_free}
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:        {hugetlb_kib} kB
"""

BASE_MOUNTS = [
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0",
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
    "udev /dev devtmpfs rw,nosuid,relatime,size=8123456k,nr_inodes=2030864,mode=755 0 0",
    "/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0",
    "tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1631234k,mode=755 0 0",
]


def cpu_list(cpus):
    """Formats CPUs in the kernel's list syntax ("0-3,8-11")."""
    cpus = sorted(set(cpus))
    out = []
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else "%d-%d" % (cpus[i], cpus[j]))
        i = j + 1
    return ",".join(out)


class Tree:
    def __init__(self, name):
        self.base = os.path.join(HERE, name)
        if os.path.lexists(self.base):
            shutil.rmtree(self.base)
        self.sys = os.path.join(self.base, "sys")
        self.proc = os.path.join(self.base, "proc")
        os.makedirs(self.sys)
        os.makedirs(self.proc)

    def write(self, rel, content):
        path = os.path.join(self.sys, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)

    def mkdir(self, rel):
        os.makedirs(os.path.join(self.sys, rel), exist_ok=True)

    def link(self, rel, target_rel):
        """A relative symlink at sys/@rel pointing to sys/@target_rel."""
        path = os.path.join(self.sys, rel)
        target = os.path.join(self.sys, target_rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(os.path.relpath(target, os.path.dirname(path)), path)

    # ---- CPUs -----------------------------------------------------------

    def cpus(self, cpus, online, nodes):
        """@cpus: id -> dict(package, core, siblings, l3) for online CPUs or
        None for an offline one. @nodes: node -> CPU ids."""
        present = sorted(cpus)
        self.write("devices/system/cpu/present", cpu_list(present) + "\n")
        self.write("devices/system/cpu/possible", cpu_list(present) + "\n")
        self.write("devices/system/cpu/online", cpu_list(online) + "\n")
        for cpu in present:
            d = "devices/system/cpu/cpu%d" % cpu
            t = cpus[cpu]
            if cpu != 0:  # cpu0 cannot be taken offline: no online file
                self.write(d + "/online", "1\n" if cpu in online else "0\n")
            if t is None:  # offline: the kernel removes topology and cache
                self.mkdir(d)
                continue
            self.write(d + "/topology/physical_package_id", "%d\n" % t["package"])
            self.write(d + "/topology/die_id", "0\n")
            self.write(d + "/topology/core_id", "%d\n" % t["core"])
            self.write(d + "/topology/thread_siblings_list", cpu_list(t["siblings"]) + "\n")
            self.write(d + "/cache/index3/level", "3\n")
            self.write(d + "/cache/index3/shared_cpu_list", cpu_list(t["l3"]) + "\n")
        self.write("devices/system/node/online", cpu_list(nodes) + "\n")
        self.write("devices/system/node/possible", cpu_list(nodes) + "\n")
        for node, node_cpus in sorted(nodes.items()):
            self.write("devices/system/node/node%d/cpulist" % node, cpu_list(node_cpus) + "\n")

    # ---- PCI ------------------------------------------------------------

    def pci(self, path, cls, vendor, device, driver=None, group=None, node=-1):
        """@path: the device below devices/, e.g. "pci0000:00/0000:00:03.1/0000:0f:00.0"."""
        name = os.path.basename(path)
        d = "devices/" + path
        self.write(d + "/class", "0x%06x\n" % cls)
        self.write(d + "/vendor", "0x%04x\n" % vendor)
        self.write(d + "/device", "0x%04x\n" % device)
        if node is not None:
            self.write(d + "/numa_node", "%d\n" % node)
        if driver is not None:
            self.mkdir("bus/pci/drivers/" + driver)
            self.link(d + "/driver", "bus/pci/drivers/" + driver)
            self.link("bus/pci/drivers/%s/%s" % (driver, name), d)
        if group is not None:
            self.mkdir("kernel/iommu_groups/%d/devices" % group)
            self.link(d + "/iommu_group", "kernel/iommu_groups/%d" % group)
            self.link("kernel/iommu_groups/%d/devices/%s" % (group, name), d)
        self.link("bus/pci/devices/" + name, d)

    # ---- KVM --------------------------------------------------------------

    def kvm(self, flag):
        """@flag: "vmx" (Intel VT-x), "svm" (AMD-V) or None for a CPU that
        offers neither. /sys/class/misc/kvm exists once kvm_intel/kvm_amd
        has loaded; winvmd reads only the flags line of cpuinfo."""
        flags = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge cmov"
        if flag is not None:
            flags += " " + flag
            self.write("class/misc/kvm/dev", "10:232\n")
        with open(os.path.join(self.proc, "cpuinfo"), "w") as f:
            f.write("processor\t: 0\nflags\t\t: %s sse sse2 ht syscall nx lm\n" % flags)

    def iommu(self):
        self.mkdir("kernel/iommu_groups")

    # ---- memory ---------------------------------------------------------

    def hugepages(self, page_kib, total, free, node=None):
        if node is None:
            d = "kernel/mm/hugepages/hugepages-%dkB" % page_kib
        else:
            d = "devices/system/node/node%d/hugepages/hugepages-%dkB" % (node, page_kib)
        self.write(d + "/nr_hugepages", "%d\n" % total)
        self.write(d + "/free_hugepages", "%d\n" % free)
        if node is None:
            self.write(d + "/resv_hugepages", "0\n")
            self.write(d + "/surplus_hugepages", "0\n")
            self.write(d + "/nr_overcommit_hugepages", "0\n")
        else:
            self.write(d + "/surplus_hugepages", "0\n")

    def proc_files(self, mounts, mem_gib, hp_total=0, hp_free=0, hugetlb_kib=0):
        with open(os.path.join(self.proc, "mounts"), "w") as f:
            f.write("\n".join(BASE_MOUNTS + mounts) + "\n")
        with open(os.path.join(self.proc, "meminfo"), "w") as f:
            f.write(
                MEMINFO.format(
                    mem_kib=mem_gib * 1024 * 1024,
                    free_kib=mem_gib * 1024 * 1024 // 2,
                    hp_total=hp_total,
                    hp_free=hp_free,
                    hugetlb_kib=hugetlb_kib,
                )
            )


def smt_cpus(cores, packages=1):
    """Linux numbering on Intel/AMD: thread 0 of every core first, then the
    second threads: siblings are n and n + cores * packages."""
    n = cores * packages
    cpus = {}
    for cpu in range(2 * n):
        first = cpu % n
        cpus[cpu] = {
            "package": first // cores,
            "core": first % cores,
            "siblings": [first, first + n],
        }
    return cpus


def set_l3(cpus, groups):
    for group in groups:
        for cpu in group:
            if cpus.get(cpu) is not None:
                cpus[cpu]["l3"] = group


HUGETLBFS_2M = "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0"


def laptop():
    t = Tree("laptop")
    t.kvm("vmx")
    cpus = smt_cpus(4)
    set_l3(cpus, [list(range(8))])
    t.cpus(cpus, list(range(8)), {0: list(range(8))})
    t.iommu()
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x3E34, driver="skl_uncore", group=0)
    t.pci("pci0000:00/0000:00:02.0", 0x030000, 0x8086, 0x3EA0, driver="i915", group=1)
    t.pci("pci0000:00/0000:00:14.0", 0x0C0330, 0x8086, 0x9DED, driver="xhci_hcd", group=2)
    t.pci("pci0000:00/0000:00:1f.0", 0x060100, 0x8086, 0x9D84, group=3)
    t.pci("pci0000:00/0000:00:1f.3", 0x040380, 0x8086, 0x9DC8, driver="snd_hda_intel", group=3)
    t.pci("pci0000:00/0000:00:1f.4", 0x0C0500, 0x8086, 0x9DA3, driver="i801_smbus", group=3)
    t.hugepages(2048, 0, 0)
    t.hugepages(2048, 0, 0, node=0)
    # no pagesize option: the default size from meminfo applies
    t.proc_files(["hugetlbfs /dev/hugepages hugetlbfs rw,relatime 0 0"], 16)


def ryzen():
    t = Tree("ryzen")
    t.kvm("svm")
    cpus = smt_cpus(8)
    ccx0 = [0, 1, 2, 3, 8, 9, 10, 11]
    ccx1 = [4, 5, 6, 7, 12, 13, 14, 15]
    set_l3(cpus, [ccx0, ccx1])
    t.cpus(cpus, list(range(16)), {0: list(range(16))})
    t.iommu()
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x1022, 0x1450, group=0, node=0)
    t.pci("pci0000:00/0000:00:01.1", 0x060400, 0x1022, 0x1453, driver="pcieport", group=2, node=0)
    t.pci("pci0000:00/0000:00:01.1/0000:01:00.0", 0x010802, 0x144D, 0xA808, driver="nvme",
          group=14, node=0)
    t.pci("pci0000:00/0000:00:03.1", 0x060400, 0x1022, 0x1453, driver="pcieport", group=16,
          node=0)
    t.pci("pci0000:00/0000:00:03.1/0000:0f:00.0", 0x030000, 0x10DE, 0x1B80, driver="vfio-pci",
          group=16, node=0)
    t.pci("pci0000:00/0000:00:03.1/0000:0f:00.1", 0x040300, 0x10DE, 0x10F0, driver="vfio-pci",
          group=16, node=0)
    t.hugepages(2048, 0, 0)
    t.hugepages(1048576, 16, 16)
    t.hugepages(2048, 0, 0, node=0)
    t.hugepages(1048576, 16, 16, node=0)
    # The kernel prints a 1 GiB pagesize as "1024M".
    t.proc_files(
        [
            "hugetlbfs /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M 0 0",
            HUGETLBFS_2M,
        ],
        32,
        hp_total=0,
        hp_free=0,
        hugetlb_kib=16 * 1048576,
    )


def numa2s():
    t = Tree("numa2s")
    t.kvm("vmx")
    cpus = smt_cpus(8, packages=2)
    cpus[31] = None  # offline
    cpus[15]["siblings"] = [15]  # the kernel drops offline siblings
    node0 = list(range(0, 8)) + list(range(16, 24))
    node1 = list(range(8, 16)) + list(range(24, 31))  # offline CPUs leave the node mask
    set_l3(cpus, [node0, node1])
    t.cpus(cpus, list(range(31)), {0: node0, 1: node1})
    t.iommu()
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x2020, group=0, node=0)
    t.pci("pci0000:00/0000:00:17.0", 0x010601, 0x8086, 0xA182, driver="ahci", group=8, node=0)
    t.pci("pci0000:80/0000:80:03.0", 0x060400, 0x8086, 0x2030, driver="pcieport", group=40,
          node=1)
    t.pci("pci0000:80/0000:80:03.0/0000:81:00.0", 0x030000, 0x10DE, 0x1E07, driver="vfio-pci",
          group=41, node=1)
    t.hugepages(2048, 3072, 2560)
    t.hugepages(1048576, 0, 0)
    t.hugepages(2048, 2048, 2048, node=0)
    t.hugepages(1048576, 0, 0, node=0)
    t.hugepages(2048, 1024, 512, node=1)
    t.hugepages(1048576, 0, 0, node=1)
    t.proc_files(
        [
            HUGETLBFS_2M,
            # a mount point with a space, escaped as the kernel does
            "hugetlbfs /srv/huge\\040pages hugetlbfs rw,relatime,pagesize=2M 0 0",
        ],
        256,
        hp_total=3072,
        hp_free=2560,
        hugetlb_kib=3072 * 2048,
    )


def noiommu():
    t = Tree("noiommu")
    t.kvm("vmx")
    cpus = smt_cpus(4)
    set_l3(cpus, [list(range(8))])
    t.cpus(cpus, list(range(8)), {0: list(range(8))})
    t.iommu()  # the directory exists, with no groups: IOMMU off
    # git keeps no empty directories; a dot file is not a group
    t.write("kernel/iommu_groups/.keep", "")
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x3E34, driver="skl_uncore")
    t.pci("pci0000:00/0000:00:01.0", 0x060400, 0x8086, 0x1901, driver="pcieport")
    t.pci("pci0000:00/0000:00:01.0/0000:01:00.0", 0x030000, 0x10DE, 0x1C82, driver="nouveau",
          node=None)
    t.pci("pci0000:00/0000:00:14.0", 0x0C0330, 0x8086, 0xA2AF, driver="xhci_hcd")
    t.hugepages(2048, 0, 0)
    t.hugepages(2048, 0, 0, node=0)
    t.proc_files([], 16)


def gpu_host(name, shared):
    t = Tree(name)
    t.kvm("svm")
    cpus = smt_cpus(6)
    set_l3(cpus, [list(range(12))])
    t.cpus(cpus, list(range(12)), {0: list(range(12))})
    t.iommu()
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x1022, 0x1480, group=0)
    t.pci("pci0000:00/0000:00:03.1", 0x060400, 0x1022, 0x1483, driver="pcieport", group=19)
    t.pci("pci0000:00/0000:00:03.1/0000:0a:00.0", 0x030000, 0x1002, 0x731F, driver="vfio-pci",
          group=20)
    t.pci("pci0000:00/0000:00:03.1/0000:0a:00.1", 0x040300, 0x1002, 0xAB38, driver="vfio-pci",
          group=20)
    if shared:
        t.pci("pci0000:00/0000:00:03.1/0000:0a:00.2", 0x010601, 0x1022, 0x7901, driver="ahci",
              group=20)
    t.hugepages(2048, 4096, 4096)
    t.hugepages(2048, 4096, 4096, node=0)
    t.proc_files([HUGETLBFS_2M], 32, hp_total=4096, hp_free=4096, hugetlb_kib=4096 * 2048)


def nokvm():
    """A cloud VM: 2 vCPUs without VT-x (no nested virtualization), no
    IOMMU, no KVM: guests can only be emulated."""
    t = Tree("nokvm")
    t.kvm(None)
    cpus = {0: {"package": 0, "core": 0, "siblings": [0]},
            1: {"package": 0, "core": 1, "siblings": [1]}}
    set_l3(cpus, [[0, 1]])
    t.cpus(cpus, [0, 1], {0: [0, 1]})
    t.pci("pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x1237)
    t.hugepages(2048, 0, 0)
    t.hugepages(2048, 0, 0, node=0)
    t.proc_files([], 4)


def main():
    laptop()
    ryzen()
    numa2s()
    noiommu()
    gpu_host("gpu-alone", shared=False)
    gpu_host("gpu-shared", shared=True)
    nokvm()


if __name__ == "__main__":
    main()
