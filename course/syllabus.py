"""The lessons, in syllabus order. Folder names are the lesson ids used everywhere."""

from __future__ import annotations

from course.errors import CourseError

LESSONS: dict[str, str] = {
    "01-full-fine-tuning": "Full fine-tuning",
    "02-soft-prompting": "Soft prompting (prompt engineering)",
    "03-prompt-tuning": "Prompt tuning",
    "04-prefix-tuning": "Prefix tuning",
    "05-adapters": "Adapters",
    "06-lora": "LoRA",
    "07-qlora": "QLoRA and NF4 quantization",
    "08-alignment": "SFT -> reward model -> RLHF / DPO",
    "09-rag-vs-fine-tuning": "RAG versus fine-tuning",
    "10-distillation": "Model distillation",
}


def require_lesson(lesson: str) -> str:
    """`lesson` if it is one of the course's lessons, else a CourseError listing the valid ids."""
    if lesson in LESSONS:
        return lesson
    raise CourseError(f"unknown lesson {lesson!r} (lessons: {', '.join(LESSONS)})")
