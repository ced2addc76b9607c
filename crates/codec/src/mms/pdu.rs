//! One typed struct per MMS PDU (OMA-MMS-ENC §6, m-send-req 0x80 to m-cancel-conf 0x97), each
//! with every header field the spec gives that PDU. Fields the PDU does not define, repeated
//! single fields and unknown or application headers land in `other`, which is written back, so
//! a decode/encode round trip loses nothing.

use super::address::Address;
use super::header::{Header, Indexed};
use super::values::*;
use crate::wsp::EncodedString;

/// A place for decoded header values: `Option` takes one, `Vec` takes any number.
trait Slot<T> {
    /// Stores `value`, or hands it back when the slot is full.
    fn put(&mut self, value: T) -> Option<T>;
    fn values(&self) -> &[T];
}

impl<T> Slot<T> for Option<T> {
    fn put(&mut self, value: T) -> Option<T> {
        if self.is_some() {
            return Some(value);
        }
        *self = Some(value);
        None
    }
    fn values(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> Slot<T> for Vec<T> {
    fn put(&mut self, value: T) -> Option<T> {
        self.push(value);
        None
    }
    fn values(&self) -> &[T] {
        self
    }
}

macro_rules! pdus {
    ($(
        $(#[$doc:meta])*
        $Name:ident = $Type:ident {
            $( $field:ident : $slot:ty = $Variant:ident, )*
        }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct $Name {
                pub transaction_id: Option<String>,
                pub mms_version: Option<Version>,
                $( pub $field: $slot, )*
                /// Headers this PDU does not define, repeats, unknown and application headers.
                pub other: Vec<Header>,
            }

            impl $Name {
                fn from_headers(headers: Vec<Header>) -> Self {
                    let mut pdu = Self::default();
                    for header in headers {
                        let spare = match header {
                            Header::TransactionId(v) => pdu.transaction_id.put(v).map(Header::TransactionId),
                            Header::MmsVersion(v) => pdu.mms_version.put(v).map(Header::MmsVersion),
                            $( Header::$Variant(v) => Slot::put(&mut pdu.$field, v).map(Header::$Variant), )*
                            other => Some(other),
                        };
                        pdu.other.extend(spare);
                    }
                    pdu
                }

                /// The header fields in the order the spec asks for: Transaction-ID and
                /// version first (after the type), the others as listed, unknown ones last.
                fn to_headers(&self) -> Vec<Header> {
                    let mut out = Vec::new();
                    out.extend(self.transaction_id.clone().map(Header::TransactionId));
                    out.extend(self.mms_version.map(Header::MmsVersion));
                    $( out.extend(Slot::values(&self.$field).iter().cloned().map(Header::$Variant)); )*
                    out.extend(self.other.iter().cloned());
                    out
                }
            }

            impl From<$Name> for Pdu {
                fn from(pdu: $Name) -> Pdu {
                    Pdu::$Name(pdu)
                }
            }
        )*

        /// Any MMS PDU, by its X-Mms-Message-Type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Pdu {
            $( $(#[$doc])* $Name($Name), )*
        }

        impl Pdu {
            pub fn message_type(&self) -> MessageType {
                match self {
                    $( Pdu::$Name(_) => MessageType::$Type, )*
                }
            }

            /// Sorts decoded headers into the struct of `message_type`; `None` for a type
            /// the spec does not assign.
            pub fn from_headers(message_type: MessageType, headers: Vec<Header>) -> Option<Pdu> {
                $( if message_type == MessageType::$Type {
                    return Some(Pdu::$Name($Name::from_headers(headers)));
                } )*
                None
            }

            /// The header fields (Message-Type excepted), in encoding order.
            pub fn headers(&self) -> Vec<Header> {
                match self {
                    $( Pdu::$Name(p) => p.to_headers(), )*
                }
            }

            pub fn transaction_id(&self) -> Option<&str> {
                match self {
                    $( Pdu::$Name(p) => p.transaction_id.as_deref(), )*
                }
            }

            pub fn mms_version(&self) -> Option<Version> {
                match self {
                    $( Pdu::$Name(p) => p.mms_version, )*
                }
            }
        }
    };
}

pdus! {
    /// m-send-req: a handset submits a message.
    SendReq = SEND_REQ {
        date: Option<u64> = Date,
        from: Option<Sender> = From,
        to: Vec<Address> = To,
        cc: Vec<Address> = Cc,
        bcc: Vec<Address> = Bcc,
        subject: Option<EncodedString> = Subject,
        message_class: Option<MessageClass> = MessageClass,
        expiry: Option<TimeValue> = Expiry,
        delivery_time: Option<TimeValue> = DeliveryTime,
        priority: Option<Priority> = Priority,
        sender_visibility: Option<SenderVisibility> = SenderVisibility,
        delivery_report: Option<bool> = DeliveryReport,
        read_report: Option<bool> = ReadReport,
        store: Option<bool> = Store,
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        reply_charging: Option<ReplyCharging> = ReplyCharging,
        reply_charging_deadline: Option<TimeValue> = ReplyChargingDeadline,
        reply_charging_size: Option<u64> = ReplyChargingSize,
        reply_charging_id: Option<String> = ReplyChargingId,
        content_class: Option<ContentClass> = ContentClass,
        drm_content: Option<bool> = DrmContent,
        adaptation_allowed: Option<bool> = AdaptationAllowed,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
    }

    /// m-send-conf: the relay's answer to m-send-req.
    SendConf = SEND_CONF {
        response_status: Option<ResponseStatus> = ResponseStatus,
        response_text: Option<EncodedString> = ResponseText,
        message_id: Option<String> = MessageId,
        content_location: Option<String> = ContentLocation,
        store_status: Option<StoreStatus> = StoreStatus,
        store_status_text: Option<EncodedString> = StoreStatusText,
    }

    /// m-notification-ind: tells a recipient that a message waits at Content-Location.
    NotificationInd = NOTIFICATION_IND {
        from: Option<Sender> = From,
        subject: Option<EncodedString> = Subject,
        delivery_report: Option<bool> = DeliveryReport,
        stored: Option<bool> = Stored,
        message_class: Option<MessageClass> = MessageClass,
        priority: Option<Priority> = Priority,
        message_size: Option<u64> = MessageSize,
        expiry: Option<TimeValue> = Expiry,
        reply_charging: Option<ReplyCharging> = ReplyCharging,
        reply_charging_deadline: Option<TimeValue> = ReplyChargingDeadline,
        reply_charging_size: Option<u64> = ReplyChargingSize,
        reply_charging_id: Option<String> = ReplyChargingId,
        distribution_indicator: Option<bool> = DistributionIndicator,
        element_descriptor: Option<Box<ElementDescriptor>> = ElementDescriptor,
        recommended_retrieval_mode: Option<RetrievalMode> = RecommendedRetrievalMode,
        recommended_retrieval_mode_text: Option<EncodedString> = RecommendedRetrievalModeText,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
        content_class: Option<ContentClass> = ContentClass,
        drm_content: Option<bool> = DrmContent,
        replace_id: Option<String> = ReplaceId,
        content_location: Option<String> = ContentLocation,
    }

    /// m-notifyresp-ind: the recipient's answer to a notification.
    NotifyRespInd = NOTIFYRESP_IND {
        status: Option<Status> = Status,
        report_allowed: Option<bool> = ReportAllowed,
    }

    /// m-retrieve-conf: the message, as the recipient retrieves it.
    RetrieveConf = RETRIEVE_CONF {
        message_id: Option<String> = MessageId,
        from: Option<Sender> = From,
        to: Vec<Address> = To,
        cc: Vec<Address> = Cc,
        subject: Option<EncodedString> = Subject,
        recommended_retrieval_mode: Option<RetrievalMode> = RecommendedRetrievalMode,
        recommended_retrieval_mode_text: Option<EncodedString> = RecommendedRetrievalModeText,
        message_class: Option<MessageClass> = MessageClass,
        date: Option<u64> = Date,
        priority: Option<Priority> = Priority,
        delivery_report: Option<bool> = DeliveryReport,
        read_report: Option<bool> = ReadReport,
        retrieve_status: Option<RetrieveStatus> = RetrieveStatus,
        retrieve_text: Option<EncodedString> = RetrieveText,
        previously_sent_by: Vec<PreviouslySentBy> = PreviouslySentBy,
        previously_sent_date: Vec<PreviouslySentDate> = PreviouslySentDate,
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        reply_charging: Option<ReplyCharging> = ReplyCharging,
        reply_charging_deadline: Option<TimeValue> = ReplyChargingDeadline,
        reply_charging_size: Option<u64> = ReplyChargingSize,
        reply_charging_id: Option<String> = ReplyChargingId,
        distribution_indicator: Option<bool> = DistributionIndicator,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
        content_class: Option<ContentClass> = ContentClass,
        drm_content: Option<bool> = DrmContent,
        replace_id: Option<String> = ReplaceId,
    }

    /// m-acknowledge-ind: the recipient confirms a retrieval.
    AcknowledgeInd = ACKNOWLEDGE_IND {
        report_allowed: Option<bool> = ReportAllowed,
    }

    /// m-delivery-ind: a delivery report to the sender.
    DeliveryInd = DELIVERY_IND {
        message_id: Option<String> = MessageId,
        to: Vec<Address> = To,
        date: Option<u64> = Date,
        status: Option<Status> = Status,
        status_text: Option<EncodedString> = StatusText,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
    }

    /// m-read-rec-ind: a recipient's read report, to the relay.
    ReadRecInd = READ_REC_IND {
        message_id: Option<String> = MessageId,
        to: Vec<Address> = To,
        from: Option<Sender> = From,
        date: Option<u64> = Date,
        read_status: Option<ReadStatus> = ReadStatus,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
    }

    /// m-read-orig-ind: a read report, from the relay to the original sender.
    ReadOrigInd = READ_ORIG_IND {
        message_id: Option<String> = MessageId,
        to: Vec<Address> = To,
        from: Option<Sender> = From,
        date: Option<u64> = Date,
        read_status: Option<ReadStatus> = ReadStatus,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
    }

    /// m-forward-req: forward a message stored at the relay without retrieving it.
    ForwardReq = FORWARD_REQ {
        date: Option<u64> = Date,
        from: Option<Sender> = From,
        to: Vec<Address> = To,
        cc: Vec<Address> = Cc,
        bcc: Vec<Address> = Bcc,
        expiry: Option<TimeValue> = Expiry,
        delivery_time: Option<TimeValue> = DeliveryTime,
        report_allowed: Option<bool> = ReportAllowed,
        delivery_report: Option<bool> = DeliveryReport,
        read_report: Option<bool> = ReadReport,
        store: Option<bool> = Store,
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        content_location: Option<String> = ContentLocation,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
    }

    /// m-forward-conf: the relay's answer to m-forward-req.
    ForwardConf = FORWARD_CONF {
        response_status: Option<ResponseStatus> = ResponseStatus,
        response_text: Option<EncodedString> = ResponseText,
        message_id: Option<String> = MessageId,
        content_location: Option<String> = ContentLocation,
        store_status: Option<StoreStatus> = StoreStatus,
        store_status_text: Option<EncodedString> = StoreStatusText,
    }

    /// m-mbox-store-req: store a message in the MMBox.
    MboxStoreReq = MBOX_STORE_REQ {
        content_location: Option<String> = ContentLocation,
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
    }

    /// m-mbox-store-conf.
    MboxStoreConf = MBOX_STORE_CONF {
        content_location: Option<String> = ContentLocation,
        store_status: Option<StoreStatus> = StoreStatus,
        store_status_text: Option<EncodedString> = StoreStatusText,
    }

    /// m-mbox-view-req: list messages in the MMBox.
    MboxViewReq = MBOX_VIEW_REQ {
        content_location: Vec<String> = ContentLocation,
        mm_state: Vec<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        start: Option<u64> = Start,
        limit: Option<u64> = Limit,
        attributes: Vec<u8> = Attributes,
        totals: Option<bool> = Totals,
        quotas: Option<bool> = Quotas,
    }

    /// m-mbox-view-conf: the MMBox listing; the body holds m-mbox-descr entries.
    MboxViewConf = MBOX_VIEW_CONF {
        response_status: Option<ResponseStatus> = ResponseStatus,
        response_text: Option<EncodedString> = ResponseText,
        content_location: Option<String> = ContentLocation,
        mm_state: Vec<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        start: Option<u64> = Start,
        limit: Option<u64> = Limit,
        attributes: Vec<u8> = Attributes,
        message_count: Option<u64> = MessageCount,
        mbox_totals: Vec<Quota> = MboxTotals,
        mbox_quotas: Vec<Quota> = MboxQuotas,
    }

    /// m-mbox-upload-req: upload a message (the body) into the MMBox.
    MboxUploadReq = MBOX_UPLOAD_REQ {
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
    }

    /// m-mbox-upload-conf.
    MboxUploadConf = MBOX_UPLOAD_CONF {
        content_location: Option<String> = ContentLocation,
        store_status: Option<StoreStatus> = StoreStatus,
        store_status_text: Option<EncodedString> = StoreStatusText,
    }

    /// m-mbox-delete-req: delete messages from the MMBox.
    MboxDeleteReq = MBOX_DELETE_REQ {
        content_location: Vec<String> = ContentLocation,
    }

    /// m-mbox-delete-conf: per-location results in the Status-count form. A Response-Text with a
    /// charset belongs in `results`: in the plain field it encodes like the Status-count form and
    /// reads back there.
    MboxDeleteConf = MBOX_DELETE_CONF {
        results: Vec<Indexed> = Indexed,
        content_location: Vec<String> = ContentLocation,
        response_status: Option<ResponseStatus> = ResponseStatus,
        response_text: Option<EncodedString> = ResponseText,
    }

    /// m-mbox-descr: the description of one MMBox message.
    MboxDescr = MBOX_DESCR {
        content_location: Option<String> = ContentLocation,
        message_id: Option<String> = MessageId,
        mm_state: Option<MmState> = MmState,
        mm_flags: Vec<MmFlags> = MmFlags,
        date: Option<u64> = Date,
        from: Option<Sender> = From,
        to: Vec<Address> = To,
        cc: Vec<Address> = Cc,
        bcc: Vec<Address> = Bcc,
        message_class: Option<MessageClass> = MessageClass,
        subject: Option<EncodedString> = Subject,
        priority: Option<Priority> = Priority,
        delivery_time: Option<TimeValue> = DeliveryTime,
        expiry: Option<TimeValue> = Expiry,
        delivery_report: Option<bool> = DeliveryReport,
        read_report: Option<bool> = ReadReport,
        message_size: Option<u64> = MessageSize,
        reply_charging: Option<ReplyCharging> = ReplyCharging,
        reply_charging_deadline: Option<TimeValue> = ReplyChargingDeadline,
        reply_charging_size: Option<u64> = ReplyChargingSize,
        reply_charging_id: Option<String> = ReplyChargingId,
        previously_sent_by: Vec<PreviouslySentBy> = PreviouslySentBy,
        previously_sent_date: Vec<PreviouslySentDate> = PreviouslySentDate,
        applic_id: Option<String> = ApplicId,
        reply_applic_id: Option<String> = ReplyApplicId,
        aux_applic_info: Option<String> = AuxApplicInfo,
        content_class: Option<ContentClass> = ContentClass,
        drm_content: Option<bool> = DrmContent,
    }

    /// m-delete-req (1.3): delete messages stored at the relay.
    DeleteReq = DELETE_REQ {
        content_location: Vec<String> = ContentLocation,
    }

    /// m-delete-conf (1.3): per-location results in the Status-count form (see
    /// [`MboxDeleteConf`] for Response-Text).
    DeleteConf = DELETE_CONF {
        results: Vec<Indexed> = Indexed,
        content_location: Vec<String> = ContentLocation,
        response_status: Option<ResponseStatus> = ResponseStatus,
        response_text: Option<EncodedString> = ResponseText,
    }

    /// m-cancel-req (1.3): cancel delivery of a message to the client.
    CancelReq = CANCEL_REQ {
        cancel_id: Option<String> = CancelId,
    }

    /// m-cancel-conf (1.3).
    CancelConf = CANCEL_CONF {
        cancel_status: Option<CancelStatus> = CancelStatus,
    }
}
