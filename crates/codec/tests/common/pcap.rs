//! A minimal pcap writer: Ethernet/IPv4/UDP frames carrying given datagrams, and raw frames
//! for user DLTs (SMS TPDUs for tshark's gsm_sms dissector).

const ETHERNET: u32 = 1;

fn header(linktype: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    out
}

fn record(out: &mut Vec<u8>, n: usize, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(frame);
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// One UDP datagram per frame, from `src_port` to `dst_port` (UDP checksum 0: none).
pub fn udp(datagrams: &[Vec<u8>], src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut out = header(ETHERNET);
    for (n, payload) in datagrams.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2];
        ip[2..4].copy_from_slice(&u16::try_from(20 + udp_len).unwrap().to_be_bytes());
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&src_port.to_be_bytes());
        frame.extend_from_slice(&dst_port.to_be_bytes());
        frame.extend_from_slice(&u16::try_from(udp_len).unwrap().to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        record(&mut out, n, &frame);
    }
    out
}

/// Frames as given, under a user link type (147 = USER0).
pub fn raw(frames: &[Vec<u8>], linktype: u32) -> Vec<u8> {
    let mut out = header(linktype);
    for (n, frame) in frames.iter().enumerate() {
        record(&mut out, n, frame);
    }
    out
}
