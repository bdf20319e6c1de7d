"""Demo data for `make run`: a notice in the ten languages of the subject pages, and a few
hundred subjects.

Idempotent: a second run finds the demo notices and adds nothing. Identifiers are synthetic
(`demo-subject-N@example.org`) and never shown; only their keys are stored.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent.inputs import EventInput, NoticeRef, subject_from_identifier
from consent.models import Notice
from consent.services import consent_events_record, notice_publish
from core.subject_keys import Identifier

NOTICE_KEY = "lup-demo-privacy"
NOTICE_TEXTS = {
    "en": (
        "How we use your data",
        "We use your conversations to improve and evaluate our assistant. You can withdraw "
        "at any time, and ask us to delete your data everywhere it went.",
    ),
    "km": (
        "របៀបដែលយើងប្រើទិន្នន័យរបស់អ្នក",
        "យើងប្រើការសន្ទនារបស់អ្នក ដើម្បីកែលម្អ និងវាយតម្លៃជំនួយការរបស់យើង។ "
        "អ្នកអាចដកការយល់ព្រមបានគ្រប់ពេល ហើយស្នើឱ្យយើងលុបទិន្នន័យរបស់អ្នកគ្រប់ទីកន្លែង។",
    ),
    "vi": (
        "Cách chúng tôi sử dụng dữ liệu của bạn",
        "Chúng tôi sử dụng các cuộc trò chuyện của bạn để cải thiện và đánh giá trợ lý của "
        "chúng tôi. Bạn có thể rút lại sự đồng ý bất cứ lúc nào và yêu cầu chúng tôi xóa dữ "
        "liệu của bạn ở mọi nơi nó đã được chuyển đến.",
    ),
    "th": (
        "วิธีที่เราใช้ข้อมูลของคุณ",
        "เราใช้บทสนทนาของคุณเพื่อปรับปรุงและประเมินผู้ช่วยของเรา "
        "คุณสามารถถอนความยินยอมได้ทุกเมื่อ และขอให้เราลบข้อมูลของคุณในทุกที่ที่ข้อมูลถูกส่งไป",
    ),
    "id": (
        "Cara kami menggunakan data Anda",
        "Kami menggunakan percakapan Anda untuk meningkatkan dan menguji asisten kami. Anda "
        "dapat menarik persetujuan kapan saja, dan meminta kami menghapus data Anda di mana "
        "pun data itu berada.",
    ),
    "ms": (
        "Cara kami menggunakan data anda",
        "Kami menggunakan perbualan anda untuk menambah baik dan menilai pembantu kami. Anda "
        "boleh menarik balik persetujuan pada bila-bila masa, dan meminta kami memadam data "
        "anda di mana-mana sahaja ia berada.",
    ),
    "fil": (
        "Paano namin ginagamit ang inyong data",
        "Ginagamit namin ang inyong mga usapan para mapabuti at masuri ang aming assistant. "
        "Maaari ninyong bawiin ang pahintulot anumang oras, at hilingin sa amin na burahin ang "
        "inyong data saanman ito napunta.",
    ),
    "my": (
        "သင့်ဒေတာကို ကျွန်ုပ်တို့ အသုံးပြုပုံ",
        "ကျွန်ုပ်တို့၏ လက်ထောက်ကို တိုးတက်ကောင်းမွန်စေရန်နှင့် အကဲဖြတ်ရန် သင့်စကားဝိုင်းများကို "
        "အသုံးပြုပါသည်။ သင်သည် သဘောတူညီချက်ကို အချိန်မရွေး ရုပ်သိမ်းနိုင်ပြီး သင့်ဒေတာ "
        "ရောက်ရှိသွားသည့် နေရာတိုင်းမှ ဖျက်ပေးရန် တောင်းဆိုနိုင်ပါသည်။",
    ),
    "lo": (
        "ວິທີທີ່ພວກເຮົາໃຊ້ຂໍ້ມູນຂອງທ່ານ",
        "ພວກເຮົາໃຊ້ການສົນທະນາຂອງທ່ານເພື່ອປັບປຸງ ແລະ ປະເມີນຜູ້ຊ່ວຍຂອງພວກເຮົາ. "
        "ທ່ານສາມາດຖອນການຍິນຍອມໄດ້ທຸກເວລາ ແລະ ຂໍໃຫ້ພວກເຮົາລຶບຂໍ້ມູນຂອງທ່ານຢູ່ທຸກບ່ອນທີ່ມັນໄປເຖິງ.",
    ),
    "zh-hans": (
        "我们如何使用您的数据",
        "我们使用您的对话来改进和评估我们的助手。"
        "您可以随时撤回同意，并要求我们在您的数据所到之处将其删除。",  # noqa: RUF001 (Chinese comma)
    ),
}
PURPOSES = (
    "train_ai_system",
    "train_ai_system.evaluation",
    "essential.service.inference_logging",
    "marketing.communications.email",
)
JURISDICTIONS = ("KH", "VN", "TH", "SG", "ID", "PH", "MY")
SUBJECTS = 300


def demo_email(n: int) -> str:
    return f"demo-subject-{n}@example.org"


def load_demo(*, subjects: int = SUBJECTS, seed: int = 7) -> int:
    """Load the demo notices and events once; returns the number of events added."""
    if Notice.objects.filter(key=NOTICE_KEY).exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 (synthetic demo data)
    now = timezone.now()
    with transaction.atomic():
        for language, (title, text) in NOTICE_TEXTS.items():
            notice_publish(key=NOTICE_KEY, language=language, title=title, text=text, version=1)
        events = []
        for n in range(subjects):
            identifier = Identifier("email", demo_email(n))
            ref = subject_from_identifier(identifier)
            language = "km" if n % 3 == 0 else "en"
            start = now - timedelta(days=rng.randint(30, 400))
            for purpose in rng.sample(PURPOSES, k=rng.randint(1, 3)):
                events.append(
                    _event(ref, purpose, "given", start, language, rng.choice(JURISDICTIONS))
                )
                if rng.random() < 0.2:
                    later = start + timedelta(days=rng.randint(1, 25))
                    events.append(
                        _event(ref, purpose, "withdrawn", later, language, events[-1].jurisdiction)
                    )
        consent_events_record(events=events)
    return len(events)


def _event(ref, purpose, status, when, language, jurisdiction) -> EventInput:
    return EventInput(
        subject=ref,
        purpose_key=purpose,
        status=status,
        legal_basis="consent",
        jurisdiction=jurisdiction,
        notice=NoticeRef(NOTICE_KEY, 1, language),
        method="web",
        event_time=when,
        expires_at=None,
        data_categories=("user.content",) if purpose.startswith("train") else (),
    )
