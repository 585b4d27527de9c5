/* tc clsact programs that emulate an 802.1Q access port without the 8021q
 * module: "push" tags every egress frame with VLAN 42, "pop" strips the tag
 * from ingress frames carrying VLAN 42.  Built by scripts/lab with
 *   clang -O2 -g -target bpf -c vlan42.bpf.c -o vlan42.bpf.o
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>

#define SEC(name) __attribute__((section(name), used))
#define LAB_VLAN 42

static long (*bpf_skb_vlan_push)(struct __sk_buff *skb, __u16 proto, __u16 tci) = (void *)BPF_FUNC_skb_vlan_push;
static long (*bpf_skb_vlan_pop)(struct __sk_buff *skb) = (void *)BPF_FUNC_skb_vlan_pop;

SEC("tc/push")
int vlan_push(struct __sk_buff *skb)
{
	if (skb->vlan_present)
		return TC_ACT_OK;
	/* 0x8100 in network byte order (x86 is little endian) */
	if (bpf_skb_vlan_push(skb, __builtin_bswap16(ETH_P_8021Q), LAB_VLAN) != 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc/pop")
int vlan_pop(struct __sk_buff *skb)
{
	if (skb->vlan_present && (skb->vlan_tci & 0x0fff) == LAB_VLAN)
		bpf_skb_vlan_pop(skb);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
