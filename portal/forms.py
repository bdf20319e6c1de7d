"""The subject pages' forms. Every message is in the subject's language (our catalogue), so
none falls back to English where Django has no translation (Filipino, Lao)."""

from django import forms
from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _

from core import subject_keys

REQUIRED = {"required": _("Please fill in this field.")}
TOO_LONG = _("This is too long.")
NULL_CHARACTER = _("This contains a character that cannot be used.")
FROM_THE_LIST = _("Please choose from the list.")


class SubjectForm(forms.Form):
    """A form whose every message is ours, including those Django adds by itself: a text
    field's null-character check and length limit, a choice field's unknown choice."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages["required"] = REQUIRED["required"]
            if isinstance(field, forms.CharField):
                # Only a message the field declared is in error_messages; Django's own comes
                # from the validator, in English where Django has no catalogue.
                field.error_messages.setdefault("max_length", TOO_LONG)
                field.validators = [
                    ProhibitNullCharactersValidator(message=NULL_CHARACTER)
                    if isinstance(v, ProhibitNullCharactersValidator)
                    else v
                    for v in field.validators
                ]
            if isinstance(field, forms.ChoiceField):
                field.error_messages["invalid_choice"] = FROM_THE_LIST


def id_type_choices() -> list[tuple[str, str]]:
    """Identifier types a code can be sent to (e-mail; phone only with an SMS sender)."""
    labels = {"email": _("E-mail address"), "phone": _("Phone number")}
    return [(t, labels[t]) for t in ("email", "phone") if t in settings.LUP_CODE_SENDERS]


def country_choices() -> list[tuple[str, str]]:
    names = {
        "SG": _("Singapore"),
        "MY": _("Malaysia"),
        "TH": _("Thailand"),
        "VN": _("Vietnam"),
        "KH": _("Cambodia"),
        "LA": _("Laos"),
        "MM": _("Myanmar"),
        "ID": _("Indonesia"),
        "PH": _("Philippines"),
        "BN": _("Brunei"),
        "TL": _("Timor-Leste"),
    }
    return [("", _("Choose your country"))] + [
        (code, names.get(code, code)) for code in settings.LUP_PORTAL_COUNTRIES
    ]


class IdentifierForm(SubjectForm):
    id_type = forms.ChoiceField(label=_("How we know you"), error_messages=REQUIRED)
    value = forms.CharField(
        label=_("Your e-mail address or phone number"), max_length=254, error_messages=REQUIRED
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_type"].choices = id_type_choices()

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["identifier"] = subject_keys.normalize(data["id_type"], data["value"])
        except subject_keys.InvalidIdentifier as exc:
            message = {
                "invalid_email": _("This is not a valid e-mail address."),
                "invalid_phone": _(
                    "This is not a valid phone number. Write it with its country "
                    "code, for example +855 12 345 678."
                ),
            }.get(exc.code, _("This is not a valid e-mail address or phone number."))
            self.add_error("value", message)
        return data


class DeletionForm(IdentifierForm):
    country = forms.ChoiceField(label=_("Your country"), error_messages=REQUIRED)
    note = forms.CharField(
        label=_("Anything we should know (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": _("Please keep the note under 500 characters.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()


class CodeForm(SubjectForm):
    code = forms.RegexField(
        label=_("The 6-digit code we sent you"),
        regex=r"^\s*[0-9]{6}\s*$",
        max_length=12,
        error_messages={
            **REQUIRED,
            "invalid": _("The code is 6 digits."),
            "max_length": _("The code is 6 digits."),
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()


class ConsentChangeForm(SubjectForm):
    purpose = forms.CharField(max_length=200)
    status = forms.ChoiceField(choices=[("given", "given"), ("withdrawn", "withdrawn")])
    country = forms.ChoiceField(label=_("Your country"), error_messages=REQUIRED)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()

    def clean_purpose(self) -> str:
        purpose = self.cleaned_data["purpose"]
        if purpose not in settings.LUP_PORTAL_PURPOSES:
            raise forms.ValidationError(FROM_THE_LIST)
        return purpose
